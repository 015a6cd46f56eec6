"""rtpose: real-time multi-person pose estimation with HRNet (detector → crops → one batched pose call)."""

from rtpose.codec import HeatmapCodec
from rtpose.estimator import Person, TopDownEstimator
from rtpose.models import HRNet

__version__ = "0.1.0"

__all__ = ["HRNet", "HeatmapCodec", "Person", "TopDownEstimator", "__version__"]
