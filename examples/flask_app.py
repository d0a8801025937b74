"""Mounting the MM7 receiver in a Flask application at /mm7.

    gunicorn -w 4 -b 0.0.0.0:8080 examples.flask_app:app
"""

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import mm7bind as mm7


class Inbox(mm7.Handler):
    def on_deliver(self, msg, ctx):
        print(f"MO from {msg.sender}: {msg.subject}")  # your code here


receiver = mm7.Receiver(Inbox(), store=mm7.SqliteStore("mm7-inbox.db"))

app = Flask(__name__)


@app.get("/")
def index():
    return "the rest of your site"


# Requests under /mm7 go to the receiver; everything else to Flask.
app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/mm7": mm7.wsgi_app(receiver)})
