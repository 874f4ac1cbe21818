"""The operator page at /ui, in a real headless Chromium against the running API.

Waits are on page conditions (WebDriverWait), never on fixed sleeps. Set
``RAYMAS_UI_SCREENSHOT=/path/shot.png`` to keep a screenshot of the operator's view.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.cluster.browser import console_log, headless_chromium

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


@pytest.fixture
def browser() -> Iterator[Any]:
    with headless_chromium() as wd:
        yield wd


def wait(wd: Any, condition: Callable[[Any], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Wait until ``condition(wd)`` is truthy; fail with the page text and console if not."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(wd, timeout, poll_frequency=0.2, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(condition)
    except TimeoutException:
        try:
            text = wd.find_element("tag name", "body").text
        except Exception as exc:
            text = f"(no page text: {exc})"
        raise AssertionError(f"{what}\n--- page text ---\n{text[:4000]}\n"
                             f"--- browser console ---\n{console_log(wd)}") from None


def by_id(element_id: str) -> Callable[[Any], Any]:
    """The element when it is displayed, else False."""
    def check(wd: Any) -> Any:
        el = wd.find_element("id", element_id)
        return el if el.is_displayed() else False
    return check


def sign_in(wd: Any, url: str, token: str) -> None:
    wd.get(f"{url}/ui")
    field = wait(wd, by_id("token-input"), "the login form never appeared")
    field.clear()
    field.send_keys(token)
    wait(wd, lambda d: d.find_element("id", "token-input").get_property("value") == token,
         "the token field never held the token")
    wd.find_element("id", "login-button").click()


def signed_in(wd: Any, url: str, token: str, role: str) -> None:
    sign_in(wd, url, token)
    wait(wd, by_id("content"), f"the dashboard never appeared after signing in as {role}")
    assert wd.find_element("id", "session-role").text == role
    assert wd.execute_script("return sessionStorage.getItem('raymas.token')") == token


def row_cell(table: str, key_attr: str, key: str, testid: str) -> Callable[[Any], Any]:
    """The cell ``testid`` of the row whose ``key_attr`` is ``key``, else False."""
    def find(wd: Any) -> Any:
        for tr in wd.find_elements("css selector", f"#{table} tbody tr"):
            if tr.get_attribute(key_attr) == key:
                return tr.find_element("css selector", f'[data-testid="{testid}"]')
        return False
    return find


def listed(wd: Any, table: str, key_attr: str) -> set[str]:
    return {tr.get_attribute(key_attr)
            for tr in wd.find_elements("css selector", f"#{table} tbody tr")}


def problem_detail(url: str, token: str) -> str:
    """What the API itself says about ``token`` (the page must show it)."""
    req = urllib.request.Request(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    try:
        urllib.request.urlopen(req, timeout=10).close()
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        assert exc.headers.get_content_type() == "application/problem+json"
        return str(json.loads(exc.read())["detail"])
    raise AssertionError("a bad token was accepted by /v1/me")


def screenshot(wd: Any) -> None:
    path = os.environ.get("RAYMAS_UI_SCREENSHOT")
    if path:  # the whole page, not just the first screen
        height = wd.execute_script("return document.documentElement.scrollHeight")
        wd.set_window_size(1280, min(int(height) + 200, 4000))
        wd.execute_script("window.scrollTo(0, 0)")
        wd.save_screenshot(path)


def test_operator_sees_agents_and_runs_an_echo_task(api: Any, browser: Any) -> None:
    wd = browser
    signed_in(wd, api.url, api.token("operator"), "operator")

    agents = [a for a in api.client.list_agents() if a["alive"]]
    assert any("execution" in a["capabilities"] for a in agents), agents
    ids = {a["agent_id"] for a in agents}
    wait(wd, lambda d: ids <= listed(d, "agents-table", "data-agent-id"),
         f"the agents table never listed {sorted(ids)}")
    some = sorted(ids)[0]
    wait(wd, lambda d: row_cell("agents-table", "data-agent-id", some,
                                "agent-state")(d).text in ("alive", "suspect"),
         f"agent {some} is not shown as alive")

    # the form's defaults are the contract's: an echo task for an execution agent
    assert wd.find_element("id", "task-kind").get_attribute("value") == "echo"
    assert wd.find_element("id", "task-capabilities").get_attribute("value") == "execution"
    marker = f"ui-{uuid.uuid4().hex[:8]}"
    args = wd.find_element("id", "task-args")
    args.clear()
    typed = json.dumps({"value": marker})
    args.send_keys(typed)
    wait(wd, lambda d: d.find_element("id", "task-args").get_property("value") == typed,
         "the arguments field never held what was typed")
    wd.find_element("id", "submit-button").click()

    task_id = wait(wd, by_id("submitted-task-id"), "no task id after submitting").text
    assert task_id
    assert wd.find_element("id", "submit-error").is_displayed() is False
    wait(wd, row_cell("tasks-table", "data-task-id", task_id, "task-state"),
         f"task {task_id} never got a row in the tasks table")
    wait(wd, lambda d: row_cell("tasks-table", "data-task-id", task_id,
                                "task-state")(d).text == "done",
         f"task {task_id} never showed state done")
    # what the system holds first, then what the page shows of it (GET /v1/tasks/{id})
    outcome = api.client.result(task_id)
    assert outcome["state"] == "done" and outcome["value"] == marker, (
        outcome, api.client.history(task_id))
    wait(wd, lambda d: marker in d.find_element("id", "submitted-outcome").text,
         f"the result of {task_id} ({marker!r}) was never shown")

    # the task's details come from GET /v1/tasks/{id} too
    for button in wd.find_elements("css selector", "#tasks-table tbody button[data-task-id]"):
        if button.get_attribute("data-task-id") == task_id:
            button.click()
            break
    details = wait(wd, by_id("task-details"), "the task details never appeared")
    wait(wd, lambda d: json.loads(details.text).get("value") == marker,
         "the task details do not show the result")
    screenshot(wd)


def test_plan_events_arrive_over_the_stream(api: Any, browser: Any) -> None:
    """The page reads /v1/bus/stream with fetch(): a plan's task ends show up live."""
    from agents.planning.dag import TaskGraph, TaskNode

    wd = browser
    signed_in(wd, api.url, api.token("operator"), "operator")
    wait(wd, lambda d: d.find_element("id", "live-indicator").text == "live",
         "the event stream never connected")
    plan_id = api.client.submit_plan(
        TaskGraph([TaskNode("a", "echo", {"value": 1}), TaskNode("b", "echo", {"value": 2},
                                                                 depends_on=("a",))]),
        capabilities=["execution"])
    topic = f"raymas/events/plans/{plan_id}"
    wait(wd, lambda d: sum(li.get_attribute("data-topic") == topic for li in
                           d.find_elements("css selector", "#events-list li")) >= 2,
         f"two task-end events on {topic} never reached the events list")
    wait(wd, lambda d: plan_id in listed(d, "plans-table", "data-plan-id"),
         f"plan {plan_id} never appeared in the plans table")


def test_bad_token_is_refused_and_viewer_cannot_submit(api: Any, browser: Any) -> None:
    wd = browser
    bad = api.token("operator")[:-6] + "AAAAAA"  # a broken signature
    detail = problem_detail(api.url, bad)
    sign_in(wd, api.url, bad)
    error = wait(wd, by_id("login-error"), "a bad token showed no login error")
    assert detail in error.text
    assert not wd.find_element("id", "content").is_displayed()
    assert wd.execute_script("return sessionStorage.getItem('raymas.token')") is None

    viewer = api.token("viewer")
    signed_in(wd, api.url, viewer, "viewer")
    ids = {a["agent_id"] for a in api.client.list_agents() if a["alive"]}
    wait(wd, lambda d: ids <= listed(d, "agents-table", "data-agent-id"),
         "a viewer does not see the agents")
    wd.find_element("id", "submit-button").click()
    refused = wait(wd, by_id("submit-error"), "a viewer's submit showed no error")
    wait(wd, lambda d: "cannot submit tasks" in refused.text.lower(),
         "a viewer's submit did not say the role cannot submit tasks")
    assert not wd.find_elements("id", "submitted-task-id")

    # a token that stops working anywhere sends the page back to the login form
    wd.execute_script("sessionStorage.setItem('raymas.token', arguments[0])", bad)
    wd.refresh()
    wait(wd, by_id("login-error"), "a stored bad token did not return to the login form")
    assert not wd.find_element("id", "content").is_displayed()

    # logging out forgets the token
    signed_in(wd, api.url, viewer, "viewer")
    wd.find_element("id", "logout-button").click()
    wait(wd, by_id("token-input"), "log out did not return to the login form")
    assert wd.execute_script("return sessionStorage.getItem('raymas.token')") is None
