"""`python worker.py [--burst]`: the Procfile's worker line; the worker is newsletter/worker.py
(also `python -m newsletter.worker`, or the `newsletter-worker` console script)."""

from newsletter.worker import main

if __name__ == "__main__":
    main()
