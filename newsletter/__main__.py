"""`python -m newsletter …`: the same command line as the `newsletter` console script."""

from newsletter.cli import main

main()
