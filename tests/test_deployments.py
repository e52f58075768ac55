"""Deploying diagrams: malformed or unusable files are refused with a message naming file, line and element."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workflow_app.cli import deploy_repository_diagrams
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment
from workflow_app.services import deployments
from workflow_app.services.errors import DeploymentFailed

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()
ROUTING = (ROOT / "dmn" / "partnership_routing.dmn").read_text()


def line_of(element_id: str, text: str = SOURCE) -> int:
    """The line of the partnership diagram where an element starts."""
    return text[:text.index(f'id="{element_id}"')].count("\n") + 1


@pytest.fixture
def diagram_dirs(tmp_path):
    bpmn_dir, dmn_dir = tmp_path / "bpmn", tmp_path / "dmn"
    bpmn_dir.mkdir()
    dmn_dir.mkdir()
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE)
    (dmn_dir / "partnership_routing.dmn").write_text(ROUTING)
    return bpmn_dir, dmn_dir


@pytest.fixture
def crafted_app(app_factory, clock, diagram_dirs):
    bpmn_dir, dmn_dir = diagram_dirs
    app = app_factory(deploy=False, BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir)
    with app.app_context():
        yield app


def deploy_failure(crafted_app) -> str:
    with pytest.raises(DeploymentFailed) as failure:
        deploy_repository_diagrams()
    assert db.session.query(Deployment).count() == 0, "nothing may be deployed when a file fails"
    return failure.value.message


def test_malformed_xml_names_the_file_and_line(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "broken.bpmn").write_text('<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="x">\n  <oops>\n')
    message = deploy_failure(crafted_app)
    assert "broken.bpmn, line" in message and "not well-formed XML" in message
    assert message.startswith("Nothing was deployed.")


def test_reserved_element_id_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE.replace('"disagreement_raised"', '"Start"'))
    message = deploy_failure(crafted_app)
    assert "partnership_escalation.bpmn" in message and "element 'Start'" in message and "reserved" in message


def test_missing_decision_table_is_refused(crafted_app, diagram_dirs):
    _, dmn_dir = diagram_dirs
    (dmn_dir / "partnership_routing.dmn").unlink()
    message = deploy_failure(crafted_app)
    assert f"partnership_escalation.bpmn, line {line_of('route_stage1')}, element 'route_stage1'" in message
    assert "refers to decision 'partnership_routing', which no DMN file defines" in message


def test_flow_to_a_missing_element_is_refused_by_the_engine(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    broken = SOURCE.replace('targetRef="open_stage_1"', 'targetRef="no_such_element"', 1)
    (bpmn_dir / "partnership_escalation.bpmn").write_text(broken)
    message = deploy_failure(crafted_app)
    assert "partnership_escalation.bpmn" in message


def test_enum_field_without_choices_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    # The first choices in the file are the raising side's Stage 1 outcome: remove just those two.
    broken = SOURCE.replace('<camunda:value id="resolved" name="Resolved – plan of action agreed with the other agency" />',
                            "", 1)
    broken = broken.replace('<camunda:value id="unresolved" name="Unresolved – refer to both line managers (Stage 2)" />',
                            "", 1)
    assert broken.count("<camunda:value ") == SOURCE.count("<camunda:value ") - 2
    (bpmn_dir / "partnership_escalation.bpmn").write_text(broken)
    message = deploy_failure(crafted_app)
    assert "element 'stage1_discussion'" in message and "Choice field 'outcome' has no choices" in message


def test_unknown_calendar_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE.replace('value="GB-ENG"', 'value="XX-NOPE"'))
    assert "Unknown holiday calendar 'XX-NOPE'" in deploy_failure(crafted_app)


def test_redeploying_identical_files_is_a_no_op_and_a_change_is_a_new_version(crafted_app, diagram_dirs):
    first = deploy_repository_diagrams()
    assert [(r.deployment.version, r.created) for r in first] == [(1, True)]
    again = deploy_repository_diagrams()
    assert [(r.deployment.version, r.created) for r in again] == [(1, False)]
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE.replace("working_days(2)", "working_days(3)", 1))
    changed = deploy_repository_diagrams()
    assert [(r.deployment.version, r.created) for r in changed] == [(2, True)]
    assert deployments.latest_deployment("partnership_escalation").version == 2


def test_cli_deploy_reports_the_error_and_exits_non_zero(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "broken.bpmn").write_text("<not-closed>")
    result = crafted_app.test_cli_runner().invoke(args=["deploy"])
    assert result.exit_code == 1
    assert "broken.bpmn, line 1" in result.output


def test_routing_table_without_a_matching_rule_stops_the_instance_visibly(app_factory, clock, diagram_dirs):
    """A DMN table with no rule for stage 2: the instance goes to status error, with the reason in history."""
    bpmn_dir, dmn_dir = diagram_dirs
    routing = ROUTING
    start = routing.index('<rule id="stage_2">')
    end = routing.index("</rule>", start) + len("</rule>")
    (dmn_dir / "partnership_routing.dmn").write_text(routing[:start] + routing[end:])
    app = app_factory(BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir)
    with app.app_context():
        from conftest import Api, make_chain
        from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL, complete, other, raising, ready, start
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        api = Api(app.test_client())
        instance_id = start(api)
        tasks = ready(api, instance_id)  # Stage 1 is routed: its rule is still there
        complete(api, tasks["stage1_discussion"], raising("unresolved"))
        body = complete(api, tasks["stage1_acknowledge"], other("resolved"))  # both answered: refer up to Stage 2
        assert body["status"] == "error"
        assert "No rule in decision table 'partnership_routing' matches {'Stage': 2}" in body["error"]
        error = body["history"][-1]
        assert error["kind"] == "error" and error["element_id"] == "route_stage2"
        assert body["ready_tasks"] == []
        listed = api.request("GET", "/api/instances?status=error")
        assert [i["id"] for i in listed] == [body["id"]]
        client = app.test_client()
        client.post("/login", data={"username": "tester", "password": "correct horse battery"})
        page = client.get(f"/instances/{body['id']}").get_data(as_text=True)
        assert "Needs attention (error)" in page and "No rule in decision table" in page


def test_user_task_without_a_form_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    start = SOURCE.index('<bpmn:userTask id="stage4_discussion"')
    form_start = SOURCE.index("<camunda:formData>", start)
    form_end = SOURCE.index("</camunda:formData>", form_start) + len("</camunda:formData>")
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE[:form_start] + SOURCE[form_end:])
    message = deploy_failure(crafted_app)
    assert "element 'stage4_discussion'" in message and "user task has no form" in message


def test_unreachable_element_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    orphan = ('<bpmn:scriptTask id="orphan_task" name="Forgotten step" scriptFormat="python">'
              "<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>\n  </bpmn:process>")
    (bpmn_dir / "partnership_escalation.bpmn").write_text(SOURCE.replace("</bpmn:process>", orphan, 1))
    message = deploy_failure(crafted_app)
    assert "element 'orphan_task'" in message and "'Forgotten step' cannot be reached from the start event" in message


@pytest.mark.parametrize("expression,complaint", [
    ("workdays(2)", "calls workdays, which the engine does not offer"),
    ("working_days(2 ** 40)", "The ** operator is not allowed"),
    ("working_days(2", "Python cannot read the expression: '(' was never closed, near 'working_days(2' (line 1)"),
    ("", "timer has an empty date: write one"),
])
def test_timer_expression_that_cannot_work_is_refused(crafted_app, diagram_dirs, expression, complaint):
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "partnership_escalation.bpmn").write_text(
        SOURCE.replace(">working_days(5)</bpmn:timeDate>", f">{expression}</bpmn:timeDate>", 1))
    message = deploy_failure(crafted_app)
    assert "element 'stage2_deadline'" in message and complaint in message
    assert "SyntaxError" not in message and "Line 1:" not in message


BREACH_TOLD = '<camunda:property name="recipients" value="@raising,@counterpart" />'  # first: stage1_breach_notified


@pytest.mark.parametrize("recipients,complaint", [
    ("@raising,Chief Wizard", "recipients names 'Chief Wizard', which is neither a lane of this diagram nor a role "
                              "anyone can hold, so nobody would be told"),
    ("@raising,@boss", "recipients names '@boss', which is not a recipient token"),
])
def test_a_notification_that_names_nobody_is_refused_with_file_line_and_element(crafted_app, diagram_dirs,
                                                                                recipients, complaint):
    bpmn_dir, _ = diagram_dirs
    assert SOURCE.index(BREACH_TOLD) > SOURCE.index('id="stage1_breach_notified"')
    broken = SOURCE.replace(BREACH_TOLD, f'<camunda:property name="recipients" value="{recipients}" />', 1)
    (bpmn_dir / "partnership_escalation.bpmn").write_text(broken)
    message = deploy_failure(crafted_app)
    assert (f"partnership_escalation.bpmn, line {line_of('stage1_breach_notified')}, "
            f"element 'stage1_breach_notified': {complaint}") in message


def test_a_role_the_installation_knows_is_a_valid_recipient(crafted_app, diagram_dirs):
    """Not a lane of this diagram, but a role people hold (e.g. a Business Team): accepted."""
    from workflow_app.services import people
    people.get_or_create_role("Business Team")
    db.session.commit()
    bpmn_dir, _ = diagram_dirs
    (bpmn_dir / "partnership_escalation.bpmn").write_text(
        SOURCE.replace(BREACH_TOLD, '<camunda:property name="recipients" value="@raising,Business Team" />', 1))
    assert [r.created for r in deploy_repository_diagrams()] == [True]


def test_a_routing_table_output_that_names_nobody_is_refused(crafted_app, diagram_dirs):
    """``recipients_from`` a DMN output: every value the table can output is checked, and the refusal names the
    diagram element that reads it and the DMN file and line of the value."""
    _, dmn_dir = diagram_dirs
    entry = ROUTING.index('<outputEntry id="stage_2_out3">')  # Stage 2's "who must be told": both line managers
    told = '<text>"@raising_manager,@counterpart_manager"</text>'
    assert ROUTING.index(told, entry) < ROUTING.index("</outputEntry>", entry)
    broken = ROUTING[:entry] + ROUTING[entry:].replace(told, '<text>"@raising_manager,Area Boss"</text>', 1)
    (dmn_dir / "partnership_routing.dmn").write_text(broken)
    entry_line = ROUTING[:entry].count("\n") + 1
    message = deploy_failure(crafted_app)
    assert (f"partnership_escalation.bpmn, line {line_of('notify_stage1')}, element 'notify_stage1': 'notify' output "
            f"of partnership_routing.dmn (line {entry_line}) names 'Area Boss'") in message
    assert "nobody would be told" in message


def test_recipients_from_a_variable_no_table_outputs_is_refused(crafted_app, diagram_dirs):
    bpmn_dir, _ = diagram_dirs
    reads = '<camunda:property name="recipients_from" value="notify" />'
    (bpmn_dir / "partnership_escalation.bpmn").write_text(
        SOURCE.replace(reads, '<camunda:property name="recipients_from" value="who_to_tell" />', 1))
    message = deploy_failure(crafted_app)
    assert (f"line {line_of('notify_stage1')}, element 'notify_stage1': recipients come from 'who_to_tell', "
            "which no decision table outputs") in message
