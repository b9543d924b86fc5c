"""xrayreport: dental panoramic X-ray in, visual oral-health report out.

The pipeline reads top to bottom: scan -> :mod:`~xrayreport.ingestion` (Radiograph) ->
detection (Findings) -> chart -> plan -> report. Importing the package never imports torch;
only :mod:`xrayreport.training` does.
"""

__version__ = "0.1.0"
