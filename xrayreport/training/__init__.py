"""Training, evaluation and export of the detector. The only part of xrayreport that imports torch."""
