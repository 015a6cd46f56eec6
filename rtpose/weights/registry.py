"""The weights registry: known official COCO HRNet checkpoints, a download cache and sha256 checks.

- :data:`REGISTRY` lists the checkpoints rtpose knows by name: the mmpose COCO releases (downloadable,
  their file names carry the first 8 hex digits of the file's sha256) and the official HRNet releases
  (Google Drive / OneDrive only, so they must be downloaded by hand).
- :func:`download` fetches a registry entry into the cache folder with a progress bar. The file is
  written to a temporary name inside the cache, its sha256 is checked, and only then is it moved into
  place; a corrupt download is deleted and rejected.
- :func:`resolve_weights` turns a ``--weights`` value (a path, a registry name, or nothing: the default
  checkpoint) into a file path. Like Ultralytics with its models, a registry checkpoint that is not in
  the cache yet is downloaded on first use (progress bar, sha256 check); offline, one sentence says
  which file to fetch from where, and how to pass it with ``--weights``.

Cache folder: ``$RTPOSE_CACHE/weights`` when the ``RTPOSE_CACHE`` environment variable is set, else
``~/.cache/rtpose/weights``. Download base URL of the downloadable entries: ``$RTPOSE_WEIGHTS_URL`` when
set (a mirror, or a local server in tests), else each entry's own URL.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from rtpose import settings
from rtpose.errors import DownloadError, WeightsError
from rtpose.log import say
from rtpose.utils.hashing import file_sha256
from rtpose.utils.redact import redact, split_credentials

#: Where mmpose publishes its top-down HRNet checkpoints.
MMPOSE_BASE_URL = "https://download.openmmlab.com/mmpose/top_down/hrnet/"
#: The official HRNet model zoo (files on Google Drive / OneDrive, linked from the README).
OFFICIAL_ZOO = "https://github.com/leoxiaobin/deep-high-resolution-net.pytorch#main-results"

#: The environment variables this module reads (through :mod:`rtpose.settings`).
CACHE_ENV, URL_ENV, DEADLINE_ENV = settings.CACHE_ENV, settings.WEIGHTS_URL_ENV, settings.DOWNLOAD_DEADLINE_ENV
#: Default total deadline of one download, in seconds (a 255 MB file at 250 kB/s).
DOWNLOAD_DEADLINE = settings.DOWNLOAD_DEADLINE


@dataclass(frozen=True)
class WeightsEntry:
    """One known checkpoint.

    Attributes:
        name: the registry name users type (``rtpose weights download NAME``, ``--weights NAME``).
        filename: the file's published name, also its name in the cache.
        width: HRNet width (32 or 48).
        input_hw: model input (H, W) it was trained for.
        sha256: the full sha256 hex digest, or a prefix of it (mmpose publishes 8 hex digits).
        url: where to download it; None for files that must be downloaded by hand.
        coco_ap: published COCO val2017 AP (detector boxes, flip test), for orientation.
        source: "mmpose" or "official".
        keypoints: the :data:`~rtpose.pose.keypoint_sets.KEYPOINT_SETS` name of its heatmaps ("coco", "mpii", …).
        metric: the published accuracy of a non-COCO model, as the mmpose model zoo states it (e.g.
            "whole AP 0.661"); None for COCO entries, whose number is ``coco_ap``.
        kind: "pose" (an HRNet keypoint model) or "segmentation" (an HRNetV2 ``HRNetSeg``).
        seg_classes: a segmentation entry's :data:`~rtpose.seg.classes.SEG_CLASS_SETS` name ("voc", "lip", …).
        align_corners: a segmentation entry's bilinear ``align_corners`` (its training config's).
        manual_url: where to get a file that is not downloaded automatically (None: the official pose zoo).
        max_bytes: most bytes a download may take (None: by the width, see :attr:`size_limit`).
    """

    name: str
    filename: str
    width: int
    input_hw: tuple[int, int]
    sha256: str | None
    url: str | None
    coco_ap: float | None
    source: str
    keypoints: str = "coco"
    metric: str | None = None
    kind: str = "pose"
    seg_classes: str | None = None
    align_corners: bool = False
    manual_url: str | None = None
    max_bytes: int | None = None

    @property
    def downloadable(self) -> bool:
        return self.url is not None

    @property
    def size_limit(self) -> int:
        """Most bytes a download of this entry may take: its known size class and a margin (``max_bytes`` if set).

        HRNet-W32 checkpoints are about 115 MB (28.5 M float32 parameters), W48 about 255 MB (63.6 M); a server
        that sends more (an endless body) is cut off there instead of filling the disk.
        """
        if self.max_bytes is not None:
            return int(self.max_bytes)
        return {32: 180_000_000, 48: 400_000_000}.get(self.width, 400_000_000)

    def matches_digest(self, digest: str) -> bool:
        """True when the full hex ``digest`` agrees with the known sha256 (or its published prefix)."""
        return self.sha256 is not None and digest.lower().startswith(self.sha256.lower())

    def manual_download_message(self, parameter: str = "weights") -> str:
        """How to fetch this file by hand and pass it (as the Python parameter ``parameter``)."""
        if self.manual_url is not None:
            return (
                f"{self.name} ({self.filename}) is not downloaded automatically (no published checksum): download "
                f"it manually from {self.manual_url} and pass {parameter}=PATH/{self.filename}."
            )
        return (
            f"{self.name} ({self.filename}) cannot be downloaded automatically: download it manually from the "
            f"official HRNet model zoo ({OFFICIAL_ZOO}) and pass {parameter}=PATH/{self.filename}."
        )


def _entry(name: str, filename: str, width: int, hw: tuple[int, int], ap: float) -> WeightsEntry:
    sha_prefix = filename.split("-")[1].split("_")[0]
    return WeightsEntry(name, filename, width, hw, sha_prefix, MMPOSE_BASE_URL + filename, ap, "mmpose")


def _official(name: str, width: int, hw: tuple[int, int], ap: float) -> WeightsEntry:
    return WeightsEntry(name, f"{name}.pth", width, hw, None, None, ap, "official")


#: Where mmsegmentation publishes its HRNetV2 (FCN head) checkpoints, one folder per config.
MMSEG_BASE_URL = "https://download.openmmlab.com/mmsegmentation/v0.5/hrnet/"
#: The official HRNet segmentation releases (the GitHub release the HRNet-Semantic-Segmentation README links).
OFFICIAL_SEG_RELEASE = "https://github.com/hsfzxjy/models.storage/releases/download/HRNet-OCR/"


def _seg_mmseg(name: str, config: str, filename: str, width: int, hw: tuple[int, int], classes: str,
               miou: float) -> WeightsEntry:
    sha_prefix = filename.rsplit("-", 1)[1].removesuffix(".pth")
    dataset = {"voc": "VOC", "cityscapes": "Cityscapes", "ade20k": "ADE20K",
               "pascal_context": "Pascal Context"}[classes]
    return WeightsEntry(name, filename, width, hw, sha_prefix, f"{MMSEG_BASE_URL}{config}/{filename}", None,
                        "mmseg", keypoints="-", metric=f"{dataset} mIoU {miou:.2f}", kind="segmentation",
                        seg_classes=classes, align_corners=False)


def _seg_official(name: str, filename: str, hw: tuple[int, int], classes: str, metric: str,
                  align_corners: bool) -> WeightsEntry:
    return WeightsEntry(name, filename, 48, hw, None, None, None, "official", keypoints="-", metric=metric,
                        kind="segmentation", seg_classes=classes, align_corners=align_corners,
                        manual_url=OFFICIAL_SEG_RELEASE + filename)


#: Every checkpoint rtpose knows by name. The mmpose file names and APs are from the mmpose model zoo.
REGISTRY: dict[str, WeightsEntry] = {
    e.name: e
    for e in (
        _entry("hrnet_w32_coco_256x192", "hrnet_w32_coco_256x192-c78dce93_20200708.pth", 32, (256, 192), 0.746),
        _entry("hrnet_w32_coco_384x288", "hrnet_w32_coco_384x288-d9f0d786_20200708.pth", 32, (384, 288), 0.760),
        _entry("hrnet_w48_coco_256x192", "hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth", 48, (256, 192), 0.756),
        _entry("hrnet_w48_coco_384x288", "hrnet_w48_coco_384x288-314c8528_20200708.pth", 48, (384, 288), 0.767),
        _entry("hrnet_w32_coco_256x192_dark", "hrnet_w32_coco_256x192_dark-07f147eb_20200812.pth", 32, (256, 192),
               0.757),
        _entry("hrnet_w32_coco_384x288_dark", "hrnet_w32_coco_384x288_dark-307dafc2_20210203.pth", 32, (384, 288),
               0.766),
        _entry("hrnet_w48_coco_256x192_dark", "hrnet_w48_coco_256x192_dark-8cba3197_20200812.pth", 48, (256, 192),
               0.764),
        _entry("hrnet_w48_coco_384x288_dark", "hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth", 48, (384, 288),
               0.772),
        # Other keypoint sets. File names, sha256 prefixes and metrics from the mmpose model zoo (mmpose 1.3.2
        # configs/{wholebody_2d_keypoint/topdown_heatmap/coco-wholebody/hrnet{,_dark}_coco-wholebody.yml,
        # body_2d_keypoint/topdown_heatmap/{mpii/hrnet{,_dark}_mpii,crowdpose/hrnet_crowdpose}.yml,
        # animal_2d_keypoint/topdown_heatmap/ap10k/hrnet_ap10k.yml}; Halpe: mmpose 0.x
        # configs/wholebody/2d_kpt_sview_rgb_img/topdown_heatmap/halpe/hrnet_dark_halpe.md).
        replace(_entry("hrnet_w32_coco_wholebody_256x192", "hrnet_w32_coco_wholebody_256x192-853765cd_20200918.pth",
                       32, (256, 192), None), keypoints="coco_wholebody", metric="whole AP 0.536"),
        replace(_entry("hrnet_w32_coco_wholebody_384x288", "hrnet_w32_coco_wholebody_384x288-78cacac3_20200922.pth",
                       32, (384, 288), None), keypoints="coco_wholebody", metric="whole AP 0.586"),
        replace(_entry("hrnet_w48_coco_wholebody_256x192", "hrnet_w48_coco_wholebody_256x192-643e18cb_20200922.pth",
                       48, (256, 192), None), keypoints="coco_wholebody", metric="whole AP 0.579"),
        replace(_entry("hrnet_w48_coco_wholebody_384x288", "hrnet_w48_coco_wholebody_384x288-6e061c6a_20200922.pth",
                       48, (384, 288), None), keypoints="coco_wholebody", metric="whole AP 0.632"),
        replace(_entry("hrnet_w32_coco_wholebody_256x192_dark",
                       "hrnet_w32_coco_wholebody_256x192_dark-469327ef_20200922.pth", 32, (256, 192), None),
                keypoints="coco_wholebody", metric="whole AP 0.582"),
        replace(_entry("hrnet_w48_coco_wholebody_384x288_dark",
                       "hrnet_w48_coco_wholebody_384x288_dark-f5726563_20200918.pth", 48, (384, 288), None),
                keypoints="coco_wholebody", metric="whole AP 0.661"),
        replace(_entry("hrnet_w48_halpe_384x288_dark_plus", "hrnet_w48_halpe_384x288_dark_plus-d13c2588_20211021.pth",
                       48, (384, 288), None), keypoints="halpe", metric="whole AP 0.527"),
        replace(_entry("hrnet_w32_mpii_256x256", "hrnet_w32_mpii_256x256-6c4f923f_20200812.pth", 32, (256, 256),
                       None), keypoints="mpii", metric="PCKh 0.900"),
        replace(_entry("hrnet_w48_mpii_256x256", "hrnet_w48_mpii_256x256-92cab7bd_20200812.pth", 48, (256, 256),
                       None), keypoints="mpii", metric="PCKh 0.901"),
        replace(_entry("hrnet_w32_mpii_256x256_dark", "hrnet_w32_mpii_256x256_dark-f1601c5b_20200927.pth", 32,
                       (256, 256), None), keypoints="mpii", metric="PCKh 0.904"),
        replace(_entry("hrnet_w48_mpii_256x256_dark", "hrnet_w48_mpii_256x256_dark-0decd39f_20200927.pth", 48,
                       (256, 256), None), keypoints="mpii", metric="PCKh 0.905"),
        replace(_entry("hrnet_w32_crowdpose_256x192", "hrnet_w32_crowdpose_256x192-960be101_20201227.pth", 32,
                       (256, 192), None), keypoints="crowdpose", metric="CrowdPose AP 0.675"),
        replace(_entry("hrnet_w32_ap10k_256x256", "hrnet_w32_ap10k_256x256-18aac840_20211029.pth", 32, (256, 256),
                       None), keypoints="ap10k", metric="AP-10K AP 0.722",
                url="https://download.openmmlab.com/mmpose/animal/hrnet/hrnet_w32_ap10k_256x256-18aac840_20211029.pth"),
        replace(_entry("hrnet_w48_ap10k_256x256", "hrnet_w48_ap10k_256x256-d95ab412_20211029.pth", 48, (256, 256),
                       None), keypoints="ap10k", metric="AP-10K AP 0.728",
                url="https://download.openmmlab.com/mmpose/animal/hrnet/hrnet_w48_ap10k_256x256-d95ab412_20211029.pth"),
        _official("pose_hrnet_w32_256x192", 32, (256, 192), 0.744),
        _official("pose_hrnet_w32_384x288", 32, (384, 288), 0.758),
        _official("pose_hrnet_w48_256x192", 48, (256, 192), 0.751),
        _official("pose_hrnet_w48_384x288", 48, (384, 288), 0.763),
        # HRNetV2 segmentation (kind "segmentation", loaded by rtpose.weights.seg.load_seg_model).
        # mmsegmentation 0.x model zoo (configs/hrnet/README.md): file names carry the sha256 prefix.
        _seg_mmseg("fcn_hr18_voc12aug_512x512", "fcn_hr18_512x512_40k_voc12aug",
                   "fcn_hr18_512x512_40k_voc12aug_20200613_224401-1b4b76cd.pth", 18, (512, 512), "voc", 72.90),
        _seg_mmseg("fcn_hr48_voc12aug_512x512", "fcn_hr48_512x512_40k_voc12aug",
                   "fcn_hr48_512x512_40k_voc12aug_20200613_222111-1b0f18bc.pth", 48, (512, 512), "voc", 76.24),
        _seg_mmseg("fcn_hr18_cityscapes_512x1024", "fcn_hr18_512x1024_160k_cityscapes",
                   "fcn_hr18_512x1024_160k_cityscapes_20200602_190822-221e4a4f.pth", 18, (512, 1024), "cityscapes",
                   78.80),
        _seg_mmseg("fcn_hr18_ade20k_512x512", "fcn_hr18_512x512_160k_ade20k",
                   "fcn_hr18_512x512_160k_ade20k_20200614_214426-ca961836.pth", 18, (512, 512), "ade20k", 36.79),
        _seg_mmseg("fcn_hr48_pascal_context59_480x480", "fcn_hr48_480x480_40k_pascal_context_59",
                   "fcn_hr48_480x480_40k_pascal_context_59_20210410_122738-b808b8b2.pth", 48, (480, 480),
                   "pascal_context", 50.33),
        # The official HRNet-Semantic-Segmentation releases (GitHub release hsfzxjy/models.storage, tag HRNet-OCR;
        # keys prefixed "model."). No published checksum, so never fetched automatically. align_corners is the
        # setting of the branch's experiment config (LIP, Cityscapes, Pascal Context: False; ADE20K: the default,
        # True). The release URL is the tag's asset path as the official README links it (not re-checked here).
        _seg_official("hrnetv2_w48_lip_473x473", "hrnet_lip_5583_torch04.pth", (473, 473), "lip",
                      "LIP mIoU 55.83 (flip)", False),
        _seg_official("hrnetv2_w48_cityscapes_512x1024", "hrnet_cs_8090_torch11.pth", (512, 1024), "cityscapes",
                      "Cityscapes mIoU 80.90", False),
        _seg_official("hrnetv2_w48_ade20k_520x520", "hrnet_ade20k_4312_torch04.pth", (520, 520), "ade20k",
                      "ADE20K mIoU 43.12", True),
        _seg_official("hrnetv2_w48_pascal_context59_520x520", "hrnet_pascal_ctx_5410_torch11.pth", (520, 520),
                      "pascal_context", "Pascal Context mIoU 54.10", False),
    )
}

#: The checkpoint the documentation recommends first.
DEFAULT_WEIGHTS = "hrnet_w32_coco_256x192"


def cache_dir() -> Path:
    """The weights cache folder (``$RTPOSE_CACHE/weights`` or ``~/.cache/rtpose/weights``); not created here."""
    return settings.weights_dir()


def find_entry(name_or_filename: str) -> WeightsEntry | None:
    """The registry entry for a registry name or a published file name (with or without ``.pth``), or None."""
    key = Path(str(name_or_filename)).name
    if key in REGISTRY:
        return REGISTRY[key]
    for entry in REGISTRY.values():
        if key in (entry.filename, entry.filename.removesuffix(".pth")):
            return entry
    return None


def get_entry(name: str) -> WeightsEntry:
    """The registry entry ``name``; a :class:`WeightsError` listing the known names otherwise."""
    entry = find_entry(name)
    if entry is None:
        raise WeightsError(f"Unknown weights name {name!r}; known names: {', '.join(REGISTRY)}.")
    return entry


def cached_path(entry: WeightsEntry, cache: str | os.PathLike | None = None) -> Path:
    """Where ``entry`` lives in the cache (whether or not it is there)."""
    return Path(cache or cache_dir()) / entry.filename


def entry_url(entry: WeightsEntry, base_url: str | None = None) -> str:
    """The download URL of ``entry``: ``base_url`` (or ``$RTPOSE_WEIGHTS_URL``) + file name, else its own URL."""
    if entry.url is None:
        raise WeightsError(entry.manual_download_message())
    base = base_url or settings.weights_mirror()
    if not base:
        return entry.url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)  # the file name goes into the path; a query (a signed mirror's token) stays a query
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + entry.filename))


def download_entry(
    name: str | WeightsEntry,
    cache: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    force: bool = False,
    deadline: float | None = None,
) -> Path:
    """Download a registry entry into the cache, verify its sha256, and return its path.

    An already cached file is returned as is (its checksum was verified when it was downloaded)
    unless ``force``. The download goes to a temporary file in the cache folder that is moved into
    place only after the checksum matches; on any failure, Ctrl-C or SIGTERM it is deleted.

    Limits: ``timeout`` seconds without a byte (a stalled server), ``deadline`` seconds in all (default
    ``$RTPOSE_DOWNLOAD_DEADLINE`` or :data:`DOWNLOAD_DEADLINE`; a server that trickles), and
    :attr:`WeightsEntry.size_limit` bytes (a server that never stops sending). A full disk is named as one.

    Raises:
        WeightsError: unknown name, manual-only file, server unreachable or refusing, or a corrupt file.
    """
    entry = name if isinstance(name, WeightsEntry) else get_entry(name)
    if entry.url is None:
        raise WeightsError(entry.manual_download_message())
    target = cached_path(entry, cache)
    if target.is_file() and not force:
        return target
    url = entry_url(entry, base_url)
    from rtpose.engine.signals import stop_signals_raise
    from rtpose.export.sidecar import temp_path
    from rtpose.io.paths import output_folder

    output_folder(target.parent, "weights cache ($RTPOSE_CACHE/weights)")
    if deadline is None:
        deadline = settings.download_deadline()
    tmp = temp_path(target)  # carries our PID: 'rtpose cache clean' leaves it alone while we run
    try:
        with stop_signals_raise(f"downloading {entry.filename}"), open(tmp, "wb", buffering=0) as out:
            digest = _fetch(url, out, entry.filename, progress, timeout, deadline=deadline,
                            max_bytes=entry.size_limit)
        if not entry.matches_digest(digest):
            raise DownloadError(
                f"The download of {entry.name} from {redact(url)} is corrupt (sha256 {digest[:12]}…, expected "
                f"{entry.sha256}…), so it was deleted.",
                f"the file was corrupt (sha256 {digest[:12]}…, expected {entry.sha256}…) and was deleted",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _request(url: str) -> urllib.request.Request:
    """A GET request for ``url``; its ``user:password@`` (a mirror's) is sent as HTTP basic authentication,
    not in the URL, and not to the host of a redirect."""
    import base64

    plain, user, password = split_credentials(url)
    request = urllib.request.Request(plain, headers={"User-Agent": "rtpose"})
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _fetch(url: str, out, label: str, progress: bool, timeout: float, deadline: float = DOWNLOAD_DEADLINE,
           max_bytes: int | None = None) -> str:
    """Stream ``url`` into the open file ``out`` with a progress bar; return the sha256 hex digest.

    ``timeout``: seconds without a byte; ``deadline``: seconds in all; ``max_bytes``: most bytes accepted.
    """
    import time

    from tqdm import tqdm

    from rtpose.errors import oserror_cause

    digest = hashlib.sha256()
    received = 0
    start = time.monotonic()
    shown = redact(url)
    try:
        request = _request(url)
        with urllib.request.urlopen(request, timeout=min(timeout, deadline)) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            if max_bytes is not None and total is not None and total > max_bytes:
                raise DownloadError(
                    f"The server offers {total / 1e6:.0f} MB for {shown}, more than the {max_bytes / 1e6:.0f} MB this "
                    "file can be, so it was not downloaded.",
                    f"the server offered {total / 1e6:.0f} MB, more than the file can be",
                )
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress,
                      leave=False) as bar:
                while block := response.read1(1 << 20):  # read1: returns what came, so the deadline is checked
                    try:
                        view = memoryview(block)
                        while view:  # an unbuffered file: a full disk fails here, not later in close()
                            view = view[out.write(view):]
                    except OSError as exc:
                        cause = oserror_cause(exc)
                        raise DownloadError(f"Could not save the download of {shown} in {Path(out.name).parent}: "
                                            f"{cause}; the partial file was deleted.", cause) from None
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
                    if max_bytes is not None and received > max_bytes:
                        raise DownloadError(
                            f"The download from {shown} went past {max_bytes / 1e6:.0f} MB, more than this file can "
                            "be (the server does not stop sending), so it was stopped and deleted.",
                            f"the server sent more than {max_bytes / 1e6:.0f} MB, more than the file can be",
                        )
                    if time.monotonic() - start > deadline:
                        raise DownloadError(
                            f"The download from {shown} did not finish within {deadline:g} s ({received} bytes came; "
                            f"the server is too slow), so it was stopped and deleted; set {DEADLINE_ENV} to allow "
                            "more time.",
                            f"it did not finish within {deadline:g} s",
                        )
            if total is not None and received != total:
                raise DownloadError(f"The download from {shown} stopped after {received} of {total} bytes; try again.",
                                    f"it stopped after {received} of {total} bytes")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"The server answered HTTP {exc.code} ({exc.reason}) for {shown}.",
                            f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        raise DownloadError(f"Cannot reach {shown} ({reason}); check the network connection or download it by hand.",
                            f"cannot reach the server: {reason}") from None
    except TimeoutError:
        raise DownloadError(f"Downloading {shown} timed out after {timeout:g} s; check the network connection.",
                            f"no answer within {timeout:g} s") from None
    except (ConnectionError, OSError) as exc:
        raise DownloadError(f"The download from {shown} failed ({exc}); check the network connection.",
                            str(exc)) from None
    return digest.hexdigest()


def resolve_weights(
    spec: str | os.PathLike | None,
    cache: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    parameter: str = "weights",
) -> Path:
    """The file a ``--weights`` value names, fetching a registry checkpoint on first use.

    - None: the default checkpoint (:data:`DEFAULT_WEIGHTS`), as Ultralytics does with its models;
    - an existing file: that file;
    - a registry name or published file name: the cached file, downloaded (progress bar, sha256
      check) when it is not cached yet and ``download`` is true.

    Raises :class:`WeightsError` with one sentence: unknown names, files that must be fetched by hand,
    and downloads that fail (naming the file, the URL and how to pass a local copy instead). ``parameter``: the
    Python parameter the value came from (``"seg_weights"`` for a segmentation model), named in the sentences and
    carried by the error (:attr:`rtpose.errors.RtposeError.parameter`).
    """
    if spec is None:
        entry = get_entry(DEFAULT_WEIGHTS)
        if not cached_path(entry, cache).is_file():
            say(f"no --weights given: using the default {entry.name} (COCO AP {entry.coco_ap:.3f})")
        return resolve_weights(entry.name, cache, download, progress, parameter)
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise WeightsError(f"{parameter}={str(path)!r} is a folder; give a checkpoint file inside it.",
                           parameter=parameter)
    entry = find_entry(str(spec))
    if entry is None and (path.suffix or len(path.parts) > 1):
        raise WeightsError(f"Weights file {path} does not exist.", parameter=parameter)
    if entry is None:
        raise WeightsError(
            f"Weights {spec} do not exist and are not a known weights name (see 'rtpose weights list').",
            parameter=parameter,
        )
    target = cached_path(entry, cache)
    if target.is_file():
        return target
    if not entry.downloadable:
        raise WeightsError(entry.manual_download_message(parameter), parameter=parameter)
    if not download:
        raise WeightsError(
            f"Weights {entry.name} are not downloaded yet: run 'rtpose weights download {entry.name}' "
            f"(saves to {target.parent}).", parameter=parameter,
        )
    url = entry_url(entry)
    say(f"downloading {entry.filename} (first use) from {redact(url)} to {target.parent}")
    try:
        return download_entry(entry, cache, progress=progress)
    except DownloadError as exc:
        raise WeightsError(
            f"Could not download the HRNet weights {entry.filename} from {redact(url)} ({exc.reason}); fetch that file "
            f"another way and pass {parameter}=PATH/{entry.filename}.", parameter=parameter,
        ) from None


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify_file`: the file's digest and the registry entry it matches, if any."""

    path: Path
    sha256: str
    entry: WeightsEntry | None
    checked_against: WeightsEntry | None

    @property
    def ok(self) -> bool:
        """True when the file matches the entry it was checked against (or any entry when none was named)."""
        return self.entry is not None and (self.checked_against is None or self.entry is self.checked_against)


def verify_file(path: str | os.PathLike, name: str | None = None) -> Verification:
    """Compute a file's sha256 and find the registry entry it belongs to.

    With ``name`` the file is checked against that entry only; without, against the entry its file
    name suggests, then against every entry with a known checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file {path} does not exist.")
    digest = file_sha256(path)
    wanted = get_entry(name) if name else None
    if wanted is not None:
        return Verification(path, digest, wanted if wanted.matches_digest(digest) else None, wanted)
    candidates = [e for e in REGISTRY.values() if e.matches_digest(digest)]
    by_name = find_entry(path.name)
    if by_name is not None and by_name.sha256 is not None and by_name not in candidates:
        return Verification(path, digest, None, by_name)
    return Verification(path, digest, candidates[0] if candidates else None, None)


#: ``rtpose weights download`` and older callers use this name.
download = download_entry
