"""Sign-in: sessions for pages (Flask-Login), personal bearer tokens for the API, login rate limiting."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_user, logout_user
from urllib.parse import urlsplit

from workflow_app.extensions import db, login_manager
from workflow_app.persistence.models import User
from workflow_app.services import people
from workflow_app.web.ui import landing_page

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {"auth.login", "static", "api.health", "respond.respond", "api.openapi", "metrics.metrics"}  # respond: its own signed link


SESSION_EPOCH_KEY = "_epoch"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user, for pages only: the API takes bearer tokens, never the session cookie. A session
    signed in before the user's last logout or password change (an older ``session_epoch``) is over."""
    if request.path.startswith("/api/") or not user_id.isdigit() or int(user_id) > 2**31 - 1:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or session.get(SESSION_EPOCH_KEY) != user.session_epoch:
        return None
    return user


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """API clients send ``Authorization: Bearer <token>``; pages use the session cookie."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not req.path.startswith("/api/"):
        return None
    user = people.user_for_token(header.removeprefix("Bearer ").strip())
    if user is not None and db.session.dirty:
        db.session.commit()  # last_used_at, recorded at most once a minute (people.user_for_token)
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
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return jsonify({"error": "That API token is not valid (unknown, revoked, or its user deactivated); "
                                     "the API takes bearer tokens only, never a browser session"}), 401
        return jsonify({"error": "Sign in first: send 'Authorization: Bearer <token>' "
                                 "(create one with: flask --app workflow_app users token USERNAME)"}), 401
    return redirect(url_for("auth.login", next=request.full_path))


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None, user: User) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return landing_page(user)  # each role's own page: staff their inbox, owners the dashboard ...


RATE_LIMITED = "Too many sign-in attempts; wait a minute and try again."


def _client_address() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        username, limit = request.form.get("username", ""), _login_limit()
        # Failed attempts are counted in the database (shared by every process), per username and client:
        # this client is refused until the window passes, the same account still signs in elsewhere.
        if people.login_blocked(username, _client_address(), limit):
            people.audit(username or None, "sign in", None, "refused", f"rate limited ({_client_address()})")
            abort(429, description=RATE_LIMITED)
        user = people.authenticate(username, request.form.get("password", ""))
        if user is None:
            people.record_login_failure(username, _client_address(), limit)
            people.audit(username or None, "sign in", None, "failed", "wrong username or password")
            flash("That username and password do not match an active account.", "error")
            return render_template("login.html", username=username), 401
        people.clear_login_failures(user.username, _client_address())
        session[SESSION_EPOCH_KEY] = user.session_epoch
        login_user(user)
        db.session.commit()
        people.audit(user.username, "sign in", None, "ok")
        return redirect(_safe_next(request.args.get("next"), user))
    return render_template("login.html", username="")


@bp.post("/logout")
def logout():
    """Ends this session and, server-side, every other session of the user (a copied cookie stops working)."""
    if current_user.is_authenticated:
        people.end_sessions(current_user)
        db.session.commit()
    logout_user()
    session.pop(SESSION_EPOCH_KEY, None)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
