"""Administration pages: users (roles, agency, line manager, protocols owned, API tokens), agencies, roles."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.extensions import db
from workflow_app.persistence.models import Agency, Role
from workflow_app.services import access, deployments, people
from workflow_app.services.errors import InvalidInput

bp = Blueprint("admin", __name__)


@bp.before_request
def administrators_only():
    if not access.is_admin(current_user):
        access.refuse(current_user, "open administration", request.path,
                      "Only administrators can manage users, roles and agencies.")


def _choices() -> dict:
    return {"agencies": db.session.query(Agency).order_by(Agency.name).all(),
            "roles": db.session.query(Role).order_by(Role.name).all(),
            "users": people.list_users(),
            "protocols": [d.protocol_key for d in deployments.latest_deployments()]}


@bp.get("/users")
def users():
    return render_template("admin/users.html", users=people.list_users())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    errors, values = {}, {}
    if request.method == "POST":
        values = request.form
        try:
            user = people.create_user(
                values.get("username", ""), values.get("password", ""), display_name=values.get("display_name"),
                agency=values.get("agency") or None, roles=values.getlist("roles"),
                line_manager=values.get("line_manager") or None, email=values.get("email", ""),
                protocols=values.getlist("protocols"))
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.field_errors
            flash("The user was not created: please correct the fields marked below.", "error")
        else:
            db.session.commit()
            flash(f"User {user.username} created.", "info")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", user=None, values=values, errors=errors, **_choices()), \
        (400 if errors else 200)


@bp.route("/users/<username>", methods=["GET", "POST"])
def edit_user(username: str):
    user = people.get_user(username)
    errors = {}
    if request.method == "POST":
        form = request.form
        user.display_name = form.get("display_name") or user.display_name
        user.email = form.get("email", "")
        user.active = form.get("active") == "on"
        user.agency = people.get_or_create_agency(form["agency"]) if form.get("agency") else None
        user.roles = [people.get_or_create_role(r) for r in form.getlist("roles")]
        manager = people.get_user(form["line_manager"], required=False) if form.get("line_manager") else None
        if manager is not None and manager.id == user.id:
            errors["line_manager"] = "A user cannot be their own line manager"
        user.line_manager = manager
        people.set_protocols(user, form.getlist("protocols"))
        if form.get("password"):
            try:
                people.set_password(user, form["password"])
            except InvalidInput as exc:
                errors.update(exc.field_errors)
        if errors:
            db.session.rollback()
            flash("Nothing was saved: please correct the fields marked below.", "error")
        else:
            people.audit(current_user.username, "edit user", user.username, "ok")
            flash(f"User {user.username} saved.", "info")
            return redirect(url_for("admin.edit_user", username=user.username))
    return render_template("admin/user_form.html", user=user, values={}, errors=errors,
                           tokens=people.tokens_of(user), owned=people.owned_protocols(user), **_choices()), \
        (400 if errors else 200)


@bp.post("/users/<username>/tokens")
def create_token(username: str):
    user = people.get_user(username)
    _token, plain = people.issue_token(user, request.form.get("label", ""))
    db.session.commit()
    people.audit(current_user.username, "issue API token", user.username, "ok")
    flash(f"New API token for {user.username} (shown once, copy it now): {plain}", "info")
    return redirect(url_for("admin.edit_user", username=username))


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    token = people.revoke_token(token_id)
    db.session.commit()
    people.audit(current_user.username, "revoke API token", token.user.username, "ok", f"token {token_id}")
    flash("Token revoked: it no longer works.", "info")
    return redirect(url_for("admin.edit_user", username=token.user.username))


@bp.route("/agencies", methods=["GET", "POST"])
def agencies():
    if request.method == "POST":
        kind, name = request.form.get("kind"), (request.form.get("name") or "").strip()
        if not name:
            flash("Enter a name.", "error")
        elif kind == "role":
            people.get_or_create_role(name, request.form.get("description", ""))
            db.session.commit()
            flash(f"Role {name} added.", "info")
        else:
            people.get_or_create_agency(name)
            db.session.commit()
            flash(f"Agency {name} added.", "info")
        return redirect(url_for("admin.agencies"))
    return render_template("admin/agencies.html", **_choices())
