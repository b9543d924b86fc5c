"""Process exit codes of the ``xrayreport`` command."""

EXIT_OK = 0
EXIT_FAILED = 1  # a user-caused error, or at least one file of a batch failed
EXIT_USAGE = 2  # argparse's own code for a malformed command line
