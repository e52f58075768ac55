"""Sign-in: sessions for pages (Flask-Login), personal bearer tokens for the API, login rate limiting."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from urllib.parse import urlsplit

from workflow_app.extensions import db, limiter, login_manager
from workflow_app.persistence.models import User
from workflow_app.services import people

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {"auth.login", "static", "api.health", "respond.respond"}  # respond: its own signed link


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """API clients send ``Authorization: Bearer <token>``; pages use the session cookie."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not req.path.startswith("/api/"):
        return None
    user = people.user_for_token(header.removeprefix("Bearer ").strip())
    if user is not None:
        db.session.commit()  # last_used_at
    return user


def require_sign_in():
    """Every page and API call needs a signed-in user, except the login page and static files."""
    # Flask-Login caches the user on `g`; when a caller (a test, a CLI command) keeps one app context
    # across requests, that cache would carry one request's user into the next.
    g.pop("_login_user", None)
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user.is_authenticated:
        return None
    if request.path.startswith("/api/"):
        return jsonify({"error": "Sign in first: send 'Authorization: Bearer <token>' "
                                 "(create one with: flask --app workflow_app users token USERNAME)"}), 401
    return redirect(url_for("auth.login", next=request.full_path))


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("ui.inbox")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], error_message="Too many sign-in attempts; wait a minute and try again.")
def login():
    if request.method == "POST":
        user = people.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            people.audit(request.form.get("username") or None, "sign in", None, "failed", "wrong username or password")
            flash("That username and password do not match an active account.", "error")
            return render_template("login.html", username=request.form.get("username", "")), 401
        login_user(user)
        people.audit(user.username, "sign in", None, "ok")
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
