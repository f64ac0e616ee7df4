"""Dev mailbox listing with many messages: time one page, a search (cold, then warm), one
message page, through the real app (test client, logged-in staff).

    .venv/bin/python bench/devmail.py [--messages 3500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3500)
    args = parser.parse_args()
    from newsletter import create_app
    from newsletter.extensions import db
    from newsletter.staff.models import StaffUser
    from tests.conftest import csrf_token
    from tests.devmail.test_mailbox import fill

    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp) / "mailbox"
        t0 = time.perf_counter()
        fill(str(box), args.messages)
        print(f"wrote {args.messages} messages in {time.perf_counter() - t0:.1f} s")
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db",
                "TESTING": True,
                "SECRET_KEY": "bench",
                "DEV_MAILBOX_DIR": str(box),
            }
        )
        with app.app_context():
            db.create_all()
            user = StaffUser(email="bench@example.org", name="bench", roles=["editor"])
            user.set_password("correct horse battery")
            db.session.add(user)
            db.session.commit()
            client = app.test_client()
            client.post(
                "/staff/login",
                data={
                    "csrf_token": csrf_token(client, "/staff/login"),
                    "email": user.email,
                    "password": "correct horse battery",
                },
            )

            def timed(path: str, n: int = 5) -> list[float]:
                out = []
                for _ in range(n):
                    t = time.perf_counter()
                    assert client.get(path).status_code == 200, path
                    out.append((time.perf_counter() - t) * 1000)
                return out

            first = timed("/dev/mailbox/", 1)[0]
            pages = timed("/dev/mailbox/?page=40")
            cold = timed("/dev/mailbox/?q=reader0042", 1)[0]
            warm = timed("/dev/mailbox/?q=reader0042")
            print(
                f"first page (cold): {first:.0f} ms; page 40: median "
                f"{statistics.median(pages):.0f} ms"
            )
            print(
                f"search cold (reads every header once): {cold:.0f} ms; warm: median "
                f"{statistics.median(warm):.0f} ms"
            )


if __name__ == "__main__":
    main()
