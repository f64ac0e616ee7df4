"""The build step pyproject.toml cannot say: the wheel carries the email templates and the
sample issue, which stay at templates/email/ and samples/ in the repository (designers and
editors find them there), as package data under newsletter/ (newsletter.resources finds them
either way). Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# repository path -> path inside the installed package
DATA = {"templates/email": "newsletter/email_templates", "samples": "newsletter/samples"}


class BuildWithData(build_py):
    def run(self):
        super().run()
        for source, target in DATA.items():
            destination = Path(self.build_lib) / target
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(
                HERE / source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildWithData})
