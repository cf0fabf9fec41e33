"""Audio analysis engine: one file → named MIR descriptors (pure; no database).

``analyze_file(path, *, max_duration_s=1800.0, tags=None) -> Analysis``; ``ANALYSIS_VERSION``;
the feature table (names, units) is ``sonicmap.analysis.features.FEATURES``.
"""

from sonicmap.analysis.analyze import ANALYSIS_VERSION, Analysis, analyze_file
from sonicmap.analysis.features import FEATURES

__all__ = ["ANALYSIS_VERSION", "FEATURES", "Analysis", "analyze_file"]
