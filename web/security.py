"""Cross-site request forgery protection for every form (Flask-WTF)."""

from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
