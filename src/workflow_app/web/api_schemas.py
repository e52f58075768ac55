"""The JSON API's request and response shapes, as Pydantic models.

These models are the single source of ``/api/openapi.json`` (spectree builds the OpenAPI 3.1 document from
them) *and* they check every request and every response at run time: response models forbid keys they do
not declare, so a presenter that gains or loses a field without its schema fails the suite's schemathesis
run instead of drifting silently from the published description.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------------

class StartInstanceBody(BaseModel):
    protocol: str = Field(min_length=1, description="The protocol's key (see GET /api/protocols)")
    data: dict[str, Any] = Field(default_factory=dict, description="The start form's fields by name")


class CompleteTaskBody(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict, description="The task form's fields by name")


class CancelBody(BaseModel):
    reason: str = Field(default="", description="Why the escalation is cancelled (kept in its history)")


class ReassignBody(BaseModel):
    assignee: str = Field(min_length=1, description="Username of the person to give the task to")


class InstanceQuery(BaseModel):
    """Filters of the escalations list (the same as the Escalations page)."""
    model_config = ConfigDict(populate_by_name=True)

    protocol: str | None = None
    status: Literal["running", "resolved", "closed", "cancelled", "error"] | None = None
    stage: str | None = None
    agency: str | None = None
    case: str | None = Field(default=None, description="References starting with this")
    case_reference: str | None = Field(default=None, description="Exactly this case reference (letter case ignored)")
    started_from: str | None = Field(default=None, alias="from", description="YYYY-MM-DD")
    started_to: str | None = Field(default=None, alias="to", description="YYYY-MM-DD")
    overdue: str | None = Field(default=None, description="'1', 'true', 'on' or 'yes': only escalations past a deadline")
    sort: str | None = Field(default=None, description="started (default), -started, deadline, stage ...")
    page: str | None = Field(default=None, description="1 to 1,000,000; 50 escalations a page")


class TaskQuery(BaseModel):
    role: str | None = Field(default=None, description="Only tasks of this role")
    view: Literal["mine", "available", "team"] | None = Field(
        default=None, description="mine: assigned to me; available: unassigned for my roles; team: my reports'")


# --- responses ------------------------------------------------------------------------------------------

class ErrorOut(BaseModel):
    """Every error: a sentence, and for invalid input the message of each field."""
    error: str
    fields: dict[str, str] | None = None
    problems: list[Any] | None = None


class ContactOut(_Strict):
    name: str | None
    email: str


class RequiredWhenOut(_Strict):
    field: str
    values: list[str]


class ChoiceOut(_Strict):
    value: str
    label: str


class ColumnOut(_Strict):
    name: str
    label: str


class FormFieldOut(_Strict):
    name: str
    label: str
    type: str
    required: bool
    required_when: RequiredWhenOut | None
    choices: list[ChoiceOut]
    default: str | None
    multiline: bool
    columns: list[ColumnOut]
    choices_from: str | None
    party_field: list[str] | None
    pattern: str | None = Field(default=None, description="A regular expression the whole answer must match")
    hide_when: str | None = Field(default=None, description="A condition (form-js FEEL) under which the field "
                                                             "is hidden, not required and not stored")


class FormOut(_Strict):
    fields: list[FormFieldOut]


class TaskOut(_Strict):
    id: str
    instance_id: int
    name: str
    title: str
    role: str | None
    counterpart_role: str | None
    state: str
    protocol: str
    case_reference: str | None
    due_at: str | None
    overdue: bool
    working_days_left: int | None
    breached_at: str | None
    completed_at: str | None
    completed_by: str | None
    party: str | None
    agency: str | None
    assigned_to: str | None
    external_contact: ContactOut | None
    form: FormOut | None = None


class PartyOut(_Strict):
    agency: str | None
    named_person: str | None
    contact: ContactOut | None


class TaskListOut(RootModel[list[TaskOut]]):
    pass


class HistoryEntryOut(_Strict):
    at: str
    kind: str
    actor: str | None
    task: str | None
    task_id: str | None
    element_id: str | None
    data: dict[str, Any]
    party: str | None


class InstanceOut(_Strict):
    id: int
    protocol: str
    version: int
    status: str
    case_reference: str | None
    current_stage: str | None
    started_at: str | None
    started_by: str | None
    ended_at: str | None
    end_reason: str | None
    error: str | None
    next_deadline_at: str | None
    data: dict[str, Any]
    ready_tasks: list[TaskOut]
    parties: dict[str, PartyOut]
    history: list[HistoryEntryOut]


class InstanceSummaryOut(_Strict):
    id: int
    protocol: str
    version: int
    status: str
    case_reference: str | None
    current_stage: str | None
    stage_reached: str | None
    agencies: list[str]
    started_at: str | None
    ended_at: str | None
    end_reason: str | None
    next_deadline_at: str | None


class InstanceListOut(RootModel[list[InstanceSummaryOut]]):
    """One page of escalations; the total and paging are in the X-Total-Count and X-Page headers."""


class DiagramOut(_Strict):
    protocol: str
    version: int
    xml: str
    completed: list[str]
    active: list[str]
    breached: list[str]


class ProtocolOut(_Strict):
    key: str
    name: str
    version: int


class ProtocolDetailOut(_Strict):
    key: str
    name: str
    version: int
    start_form: FormOut = Field(description="The fields POST /api/instances takes in 'data', with their rules")


class ProtocolListOut(RootModel[list[ProtocolOut]]):
    pass


class MeOut(_Strict):
    username: str
    display_name: str | None
    agency: str | None
    roles: list[str]


class StageFiguresOut(_Strict):
    element_id: str
    title: str
    stage: str | None
    closed: int
    open: int
    median_working_days: float | None
    p90_working_days: float | None
    breaches: int
    breach_rate: float | None


class CounterpartCountOut(_Strict):
    role: str | None
    tasks: int


class ReportOut(_Strict):
    protocol: str
    total: int
    generated_at: str | None
    by_status: dict[str, int]
    by_stage_reached: dict[str, int]
    stages: list[StageFiguresOut]
    counterparts: list[CounterpartCountOut]


class WorkerHealthOut(_Strict):
    expected: bool
    last_sweep_at: str | None
    last_sweep_by: str | None
    seconds_since_last_sweep: float | None
    stale_after_seconds: float
    last_error: str | None
    last_error_at: str | None


class MailHealthOut(_Strict):
    pending: int
    overdue: int
    overdue_after_minutes: float


class HealthOut(_Strict):
    status: Literal["ok", "failing"]
    worker: WorkerHealthOut | None = None
    mail: MailHealthOut | None = None
    problems: list[str] | None = None


# --- operations on running escalations (issue 16) -------------------------------------------------------

class SuspendBody(BaseModel):
    reason: str = Field(default="", description="Why the escalation is suspended (kept in its history)")


class ResumeBody(BaseModel):
    deadlines: Literal["fire", "extend"] = Field(
        description="Deadlines that fell due while suspended: 'fire' them now, or 'extend' them by the working "
                    "days the escalation was suspended")
    reason: str = Field(default="", description="Optional note kept in the history")


class RetryBody(BaseModel):
    reason: str = Field(default="", description="Why it is retried, e.g. the fixed version it now runs")


class MoveBackBody(BaseModel):
    to: str = Field(min_length=1, description="Element id of a person's task the escalation has already passed "
                                              "(see GET /api/instances/<id>/earlier-tasks)")
    reason: str = Field(default="", description="Why it is moved back (required; kept in its history)")


class EarlierTaskOut(_Strict):
    element_id: str
    title: str


class EarlierTasksOut(_Strict):
    tasks: list[EarlierTaskOut]


class MigrateBody(BaseModel):
    to_version: int | None = Field(default=None, description="Target version; the latest when left out")
    mapping: dict[str, str] = Field(default_factory=dict, description="Old element id -> new element id, for "
                                                                      "renamed elements (others keep their id)")
    reason: str = Field(default="")


class BatchBody(MigrateBody):
    protocol: str = Field(min_length=1)
    from_version: int | None = Field(default=None, description="Only escalations running this version")
    status: Literal["running", "error"] | None = Field(default=None, description="Only escalations in this status")
    case: str | None = Field(default=None, description="Only the escalation with this case reference")


class BatchRunQuery(BaseModel):
    limit: int | None = Field(default=None, ge=1, description="Move at most this many escalations in this call")


class SuspensionOut(_Strict):
    at: str
    by: str | None
    reason: str | None


class ErrorDetailsOut(_Strict):
    message: str
    element_id: str | None
    element: str | None
    at: str | None
    data: dict[str, Any]


class OperationsOut(_Strict):
    """An escalation's operational state: its version, whether it is suspended, and what stopped it."""
    id: int
    protocol: str
    status: str
    version: int
    latest_version: int | None
    suspended: SuspensionOut | None
    error: ErrorDetailsOut | None
    next_deadline_at: str | None


class OpenTaskMoveOut(_Strict):
    title: str
    from_: str = Field(alias="from")
    to: str
    to_title: str
    due_at: str | None


class InstancePreviewOut(_Strict):
    instance_id: int
    case_reference: str | None
    from_version: int
    open_tasks: list[OpenTaskMoveOut]
    unmapped: list[str]
    ok: bool


class MigrationPreviewOut(_Strict):
    protocol: str
    to_version: int
    instances: list[InstancePreviewOut]


class BatchFailureOut(_Strict):
    instance_id: int
    message: str | None


class BatchOut(_Strict):
    id: int
    protocol: str
    to_version: int
    mapping: dict[str, str]
    filters: dict[str, Any]
    reason: str
    status: str
    created_by: str
    created_at: str
    finished_at: str | None
    counts: dict[str, int]
    failed: list[BatchFailureOut]


# --- data protection (issue 18) -------------------------------------------------------------------------

class AccessLogEntryOut(_Strict):
    at: str = Field(description="When (ISO 8601, UTC)")
    instance: int
    user: str = Field(description="Username, or the contact and link id for a view by e-mailed link")
    what: str = Field(description="Kind of view, in words (instance page, API (instance), task page, ...)")
    client: str = Field(description="Client address of the request")
    outside_agency: bool = Field(description="The viewer belongs to an agency that is not a party to it")


class AccessLogOut(_Strict):
    instance: int
    views: list[AccessLogEntryOut]


class SubjectQuery(BaseModel):
    kind: Literal["case", "person"] = Field(default="case", description="A child's case reference or a person")
    q: str = Field(min_length=1, max_length=200,
                   description="Case reference (exact, any letter case), or a person's name, username or e-mail")


class SubjectOut(_Strict):
    kind: str
    query: str


class SubjectAccessOut(_Strict):
    subject: SubjectOut
    generated_at: str
    generated_by: str
    escalations: list[dict[str, Any]] = Field(
        description="Per escalation: details, data, parties, tasks, history, rectifications and access log")


class DeliveriesQuery(BaseModel):
    status: Literal["delivered", "pending", "retrying", "failed"] | None = Field(default=None)
    channel: Literal["webhook", "email"] | None = Field(default=None)
    instance: int | None = Field(default=None, description="Only the deliveries about this escalation")
    limit: int = Field(default=200, ge=1, le=1000)


class DeliveryOut(_Strict):
    id: int
    channel: Literal["webhook", "email"]
    event: str
    event_id: str | None
    instance_id: int | None
    case_reference: str | None
    protocol: str | None
    target: str
    status: Literal["delivered", "pending", "retrying", "failed"]
    attempts: int
    last_error: str | None
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None


class DeliveriesOut(_Strict):
    deliveries: list[DeliveryOut]
