"""Training and evaluation of rtpose's HRNet: ``python -m train.fit`` and ``python -m train.evaluate``.

Uses the library's one implementation of crops, codec, skeleton, model, checkpoint loading and COCO
evaluation; nothing on the inference path is re-implemented here.
"""
