"""What changed between two scans of one patient, tooth by tooth (see :mod:`xrayreport.changes.compare`)."""

from .compare import CHANGE_KINDS, Change, ChangeKind, Comparison, MatchedTooth, Side, check_pair, compare

__all__ = ["CHANGE_KINDS", "Change", "ChangeKind", "Comparison", "MatchedTooth", "Side", "check_pair", "compare"]
