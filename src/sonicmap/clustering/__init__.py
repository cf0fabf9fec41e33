"""Artist clustering (pure): GMM fit/select/predict, serialisation, stable ids, drift, profiles."""

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.serialize import FORMAT_VERSION, model_from_arrays, model_to_arrays

__all__ = ["FORMAT_VERSION", "ArtistGmm", "model_from_arrays", "model_to_arrays"]
