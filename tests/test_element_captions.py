"""The window names what a proposed point hits (issue 19, item 4): the run panel, the step view and the timeline
read the element the executor found from the ActionProposed event (no lookup on the GUI thread)."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from agent.events import ActionProposed
from agent.parsing import ParsedAction
from app.gui.run.panel import RunPanel
from app.gui.step_view import StepView
from app.gui.timeline import Timeline
from sandbox.accessibility import Element
from sandbox.actions import Click
from sandbox.geometry import Rect
from sandbox.policy import Confirm

pytestmark = pytest.mark.display

DELETE = Element(
    role="push button", name="Delete", description="", states=("showing",), box=Rect(300, 200, 90, 34), text=None,
    app="gtk", window="w", bus_name=":1.5", path="/x",
)  # fmt: skip
PROPOSED = ActionProposed(
    step=2,
    index=0,
    parsed=ParsedAction(action=Click(345, 217), model={}, box=None, source=None),
    verdict=Confirm("element_confirm", "click on push button 'Delete' needs confirmation (elements[0])"),
    element=DELETE,
)


def test_the_run_panel_and_step_view_name_the_element(qtbot: QtBot) -> None:
    panel = RunPanel(stop_key="ctrl+alt+x")
    qtbot.addWidget(panel)
    panel.on_event(PROPOSED)
    assert "on push button 'Delete'" in panel.action_label.text().replace("\n", " ")
    view = StepView()
    qtbot.addWidget(view)
    view.show_proposal(PROPOSED)
    assert view.action_label.text() == "Proposed: click at (345, 217) on push button 'Delete'"
    view.ask(PROPOSED)
    assert "on push button 'Delete'" in view.action_label.text()


def test_the_timeline_names_the_element_and_a_bare_point_says_nothing_more(qtbot: QtBot) -> None:
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.on_event(PROPOSED)
    assert timeline.item(0).text().splitlines()[:2] == ["Step 2: click at (345, 217)", "on push button 'Delete'"]
    bare = ActionProposed(step=3, index=0, parsed=PROPOSED.parsed, verdict=PROPOSED.verdict)
    timeline.on_event(bare)
    assert "on " not in timeline.item(1).text()
