"""A Qt 5 window for the accessibility tests (run with /usr/bin/python3: python3-pyqt5, and
QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1). A push button "Press me" and a line edit holding "qt text".
Prints {"window": xid, "pid": pid} once shown, then {"clicked": "Press me"} on a click."""

import json
import os
import sys

from PyQt5.QtCore import QSocketNotifier, QTimer
from PyQt5.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget


def say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    app = QApplication(sys.argv)
    win = QWidget()
    win.setWindowTitle("Qt a11y window")
    win.setGeometry(150, 120, 360, 200)
    layout = QVBoxLayout(win)
    button = QPushButton("Press me")
    button.clicked.connect(lambda: (win.setWindowTitle("clicked"), say({"clicked": "Press me"})))
    layout.addWidget(button)
    edit = QLineEdit("qt text")
    layout.addWidget(edit)
    win.show()
    stdin = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Read)
    stdin.activated.connect(lambda *_: app.quit() if not sys.stdin.readline() else None)
    QTimer.singleShot(0, lambda: say({"window": int(win.winId()), "pid": os.getpid()}))
    sys.exit(app.exec_())


main()
