"""E-mail for the clinic: what counts as an address a message can go to.

Standard library only; it knows nothing of patients or the workspace, which hand it what to send.
"""

from .address import ADDRESS_LENGTH, address_problem

__all__ = ["ADDRESS_LENGTH", "address_problem"]
