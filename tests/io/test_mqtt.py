"""MqttSink with Debian's mosquitto: a broker that is down, killed and restarted mid-run; the Python API and
``rtpose run --mqtt``."""

from __future__ import annotations

import json
import signal

import pytest

from rtpose.io.mqtt import MqttSink, parse_mqtt_url
from rtpose.results import PoseResult
from tests.conftest import VIDEO_MULTI
from tests.support.serve_processes import (
    Broker,
    LiveStream,
    Rtpose,
    Subscriber,
    free_port,
    model_args,
    needs_broker,
    wait_until,
)


def test_parse_mqtt_url_takes_credentials_from_the_url_or_the_environment():
    target = parse_mqtt_url("mqtts://cam%40site:p%2Fw@broker.local/site/poses", environ={})
    assert (target.scheme, target.host, target.port, target.topic) == ("mqtts", "broker.local", 8883, "site/poses")
    assert (target.username, target.password) == ("cam@site", "p/w") and target.tls
    assert "p/w" not in repr(target) and target.display == "mqtts://broker.local:8883/site/poses"
    env = {"RTPOSE_MQTT_USERNAME": "u", "RTPOSE_MQTT_PASSWORD": "pw"}
    assert parse_mqtt_url("mqtt://127.0.0.1:1884/t", environ=env).password == "pw"
    assert parse_mqtt_url("mqtt://127.0.0.1/t", environ={}).port == 1883


def _results(count: int, stream: int = 0) -> list[PoseResult]:
    return [PoseResult.empty(stream=stream) for _ in range(count)]


@needs_broker
def test_a_broker_that_is_down_costs_the_queue_only_and_drops_are_counted_and_said_once(capsys):
    port = free_port()  # nobody listens
    sink = MqttSink(f"mqtt://127.0.0.1:{port}/down", queue_size=5, flush_timeout=0.5)
    for result in _results(20):
        sink.write(result)  # never waits
    assert sink.queued == 5 and sink.dropped == 15
    sink.close()
    assert sink.dropped == 20 and sink.published == 0  # the 5 queued were never sent
    err = capsys.readouterr().err
    assert err.count("dropping older ones") == 1, err


@needs_broker
def test_queued_records_go_out_once_the_broker_comes(tmp_path):
    broker = Broker()  # not started yet
    sink = MqttSink(broker.url("late"), queue_size=100)
    try:
        for result in _results(10):
            sink.write(result)
        broker.start()
        sub = Subscriber(broker.port, "late")
        wait_until(lambda: sink.connected, 30, "the sink connects")  # its reconnect backoff found the broker
        for result in _results(5):
            sink.write(result)
        sink.close()
        assert sink.dropped == 0 and sink.acked >= sink.published >= 15
        wait_until(lambda: {"state": "offline", "reason": "stopped"} in sub.payloads("late/status"), 30,
                   "the offline status")
        sub.close()
    finally:
        broker.kill()


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_rtpose_run_mqtt_survives_a_broker_restart(small_weights, tmp_path):
    broker = Broker().start()
    live = LiveStream(4.0, str(VIDEO_MULTI))
    sub = Subscriber(broker.port, "cam")
    jsonl = tmp_path / "out.jsonl"
    run = Rtpose("--source", live.url(), *model_args(small_weights), "--no-show", "--json", str(jsonl),
                 "--mqtt", broker.url("cam"))
    try:
        wait_until(lambda: len(sub.payloads("/0/poses")) >= 3, 300, "records before the outage")
        broker.kill()  # the broker is gone, with whatever it had not delivered
        run.wait_for("went away", 60)
        frames_at_kill = len(jsonl.read_text().splitlines()) - 1
        wait_until(lambda: len(jsonl.read_text().splitlines()) - 1 >= frames_at_kill + 2, 300, "frames in the outage")
        broker.start()  # same port, empty
        run.wait_for("is back", 60)
        seen = len(sub.payloads("/0/poses"))
        wait_until(lambda: len(sub.payloads("/0/poses")) >= seen + 3, 300, "records after the restart")
        code = run.stop(signal.SIGTERM)
        last = json.loads(jsonl.read_text().splitlines()[-1])["frame"]  # sent before the exit: it arrives
        wait_until(lambda: last in {r["frame"] for r in sub.payloads("/0/poses")}, 30, "the last record")
    finally:
        run.kill()
        live.kill()
        sub.close()
        broker.kill()
    err = run.err
    assert code == 143 and "Traceback" not in err, err  # rtpose run's exit code for SIGTERM
    assert err.count("went away") == 1, err
    assert "dropping older ones" not in err and "messages to" not in err, err  # the queue held the outage
    frames = [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()[1:]]
    got = {r["frame"] for r in sub.payloads("/0/poses")}
    # what was written in the outage reached the new broker (queued, then sent); at most the messages the old
    # broker had acknowledged but not yet delivered when it was killed are missing
    outage = frames[frames_at_kill:frames_at_kill + 2]
    assert set(outage) <= got, (outage, sorted(got))
    assert len(set(frames) - got) <= 2, sorted(set(frames) - got)
    assert "mqtt://127.0.0.1" in next(line for line in err.splitlines() if "wrote mqtt://" in line)


@needs_broker
@pytest.mark.slow
def test_python_api_run_with_an_mqtt_sink(small_weights):
    from rtpose.engine.stream import run
    from rtpose.model import PoseModel
    from tests.conftest import DETECTOR_WEIGHTS

    broker = Broker().start()
    sub = Subscriber(broker.port, "api")
    try:
        wait_until(lambda: sub.client.is_connected(), 30, "the subscriber connects")
        with PoseModel(str(small_weights), detector=str(DETECTOR_WEIGHTS), device="cpu") as model:
            stream = model.stream(str(VIDEO_MULTI), max_frames=4)
            stats = run(stream, [MqttSink(broker.url("api"), stream=stream)])
        assert stats.frames == 4
        wait_until(lambda: len(sub.payloads("api/0/poses")) == 4, 30, "the four records")
        assert [r["frame"] for r in sub.payloads("api/0/poses")] == [0, 1, 2, 3]
        events = sub.payloads("api/0/events")
        assert events and all(e["event"] == "track_appeared" for e in events)
        assert sub.payloads("api/0/header")[0]["source"] == VIDEO_MULTI.name
    finally:
        sub.close()
        broker.kill()


@needs_broker
def test_track_events_say_when_a_track_appears_and_when_it_has_left():
    import numpy as np

    broker = Broker().start()
    sub = Subscriber(broker.port, "tracks")
    try:
        wait_until(lambda: sub.client.is_connected(), 30, "the subscriber connects")
        sink = MqttSink(broker.url("tracks"), left_after=3)
        one = PoseResult([[0, 0, 10, 20]], [0.9], np.zeros((1, 17, 3)), track_ids=[7], stream=1)
        sink.write(one)
        sink.write(one)
        for _ in range(4):  # unseen for more than left_after frames: gone
            sink.write(PoseResult.empty(track_ids=np.zeros(0, np.int64), stream=1))
        sink.close()
        events = wait_until(lambda: sub.payloads("tracks/1/events") if len(sub.payloads("tracks/1/events")) >= 2
                            else None, 30, "two events")
        assert [(e["event"], e["track_id"], e["stream"]) for e in events] == [("track_appeared", 7, 1),
                                                                              ("track_left", 7, 1)]
        assert len(sub.payloads("tracks/1/poses")) == 6
    finally:
        sub.close()
        broker.kill()
