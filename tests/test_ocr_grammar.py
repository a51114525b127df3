"""The OCR backend's task grammar: literal tasks become plans, everything else says it needs a model."""

from __future__ import annotations

import pytest

from agent.backends.ocr.grammar import (
    DEFAULT_SCROLL_NOTCHES,
    EXAMPLES,
    ClickStep,
    NeedsModel,
    Plan,
    Press,
    ScrollStep,
    Step,
    TypeInto,
    WaitStep,
    parse_task,
    split_parts,
)

ENGLISH: list[tuple[str, tuple[Step, ...]]] = [
    ("click Save", (ClickStep("Save"),)),
    ("Click Save.", (ClickStep("Save"),)),
    ("CLICK SAVE", (ClickStep("SAVE"),)),
    ("click on the Save button", (ClickStep("Save"),)),
    ("please click OK", (ClickStep("OK"),)),
    ("click 'Save As'", (ClickStep("Save As"),)),
    ('click "Save As..."', (ClickStep("Save As..."),)),
    ("click “Open File”", (ClickStep("Open File"),)),
    ("click 'Don't Save'", (ClickStep("Don't Save"),)),
    ('click on the "Submit button"', (ClickStep("Submit button"),)),  # quoted: taken literally
    ("click button", (ClickStep("button"),)),  # only a noise word: kept
    ("double-click My Documents", (ClickStep("My Documents", "left", 2),)),
    ("double click 'My Documents'", (ClickStep("My Documents", "left", 2),)),
    ("right-click Desktop", (ClickStep("Desktop", "right", 1),)),
    ("right click the Trash", (ClickStep("Trash", "right", 1),)),
    ("middle-click Link", (ClickStep("Link", "middle", 1),)),
    ("triple-click Paragraph", (ClickStep("Paragraph", "left", 3),)),
    ("left-click Home", (ClickStep("Home"),)),
    ("type hello", (TypeInto("hello"),)),
    ("type hello world into Name", (TypeInto("hello world", "Name"),)),
    ("type hello in the Search box", (TypeInto("hello", "Search"),)),
    ("type salt and pepper into Search", (TypeInto("salt and pepper", "Search"),)),
    ("type don't stop", (TypeInto("don't stop"),)),
    ("type 'a then b, c' into \"Search field\"", (TypeInto("a then b, c", "Search field"),)),
    ("type 'hello.'", (TypeInto("hello."),)),
    ("type hello into Name and press enter", (TypeInto("hello", "Name", submit=True),)),
    ("type hello into Name then press Enter", (TypeInto("hello", "Name", submit=True),)),
    ("type hello; press return", (TypeInto("hello", None, submit=True),)),
    ("enter alice@example.com into Email", (TypeInto("alice@example.com", "Email"),)),
    ("input 42 in Age", (TypeInto("42", "Age"),)),
    ("type 1,000 into Amount, press tab", (TypeInto("1,000", "Amount"), Press(("tab",)))),
    ("fill Name with John Smith", (TypeInto("John Smith", "Name"),)),
    ("fill in the Name field with 'John, Jr.'", (TypeInto("John, Jr.", "Name"),)),
    ("fill 'Pay with card' with 1234", (TypeInto("1234", "Pay with card"),)),
    # an append adds to the end of what the field holds; the forms above replace it
    ('append ".txt" to File name', (TypeInto(".txt", "File name", append=True),)),
    ("append ' Jr.' to the Name field and press enter", (TypeInto(" Jr.", "Name", submit=True, append=True),)),
    ("append to do to the end of Notes", (TypeInto("to do", "Notes", append=True),)),
    ("add world to the end of the Message box", (TypeInto("world", "Message", append=True),)),
    ("append 'a to b' to Route, press tab", (TypeInto("a to b", "Route", append=True), Press(("tab",)))),
    ("append x to Name then press enter", (TypeInto("x", "Name", submit=True, append=True),)),
    ("click Edit and append 1 to Count", (ClickStep("Edit"), TypeInto("1", "Count", append=True))),
    # issue 18: a window by its title ("in Y window" or a quoted title is surely one; a bare "in Y" may be part of
    # the text: `whole` is looked for when no window is titled Y); "type X in Y" still means into field Y
    ("click File in Mousepad", (ClickStep("File", window="Mousepad", whole="File in Mousepad"),)),
    ('click File in the "Untitled 1" window', (ClickStep("File", window="Untitled 1"),)),
    ("click Save in the Save As window", (ClickStep("Save", window="Save As"),)),
    ("double-click 'Notes' in 'Files'", (ClickStep("Notes", "left", 2, window="Files"),)),
    ("click Log in to account", (ClickStep("Log", window="to account", whole="Log in to account"),)),
    ("click Sign in", (ClickStep("Sign in"),)),
    ("click 'Save in PDF'", (ClickStep("Save in PDF"),)),
    ("type hello in Name", (TypeInto("hello", "Name"),)),
    ("type hello in the Search window", (TypeInto("hello", "Search window"),)),  # no field left: not a window
    ("type x into Name in the Save As window", (TypeInto("x", "Name", window="Save As"),)),
    ("type x into Name in Save As", (TypeInto("x", "Name in Save As"),)),  # without "window": the field's name
    ("append x to Name in the Dialog window and press enter", (TypeInto("x", "Name", True, True, "Dialog"),)),
    ("fill Name in the Save As window with Ada", (TypeInto("Ada", "Name", window="Save As"),)),
    ("press ctrl+s", (Press(("ctrl", "s")),)),
    ("press Ctrl+Shift+T", (Press(("ctrl", "shift", "t")),)),
    ("press enter", (Press(("enter",)),)),
    ("hit the Escape key", (Press(("esc",)),)),
    ("press alt+F4", (Press(("alt", "f4")),)),
    ("press the Save button", (ClickStep("Save"),)),
    ("scroll down", (ScrollStep("down", DEFAULT_SCROLL_NOTCHES),)),
    ("scroll up 3", (ScrollStep("up", 3),)),
    ("scroll down by 10 notches", (ScrollStep("down", 10),)),
    ("scroll left 2 on Timeline", (ScrollStep("left", 2, "Timeline"),)),
    ("scroll right in the File list", (ScrollStep("right", DEFAULT_SCROLL_NOTCHES, "File list"),)),
    ("scroll down the page", (ScrollStep("down", DEFAULT_SCROLL_NOTCHES),)),
    ("wait 2", (WaitStep(2.0),)),
    ("wait 1.5 s", (WaitStep(1.5),)),
    ("wait for 3 seconds", (WaitStep(3.0),)),
    ("wait", (WaitStep(1.0),)),
]

JOINED: list[tuple[str, tuple[Step, ...]]] = [
    ("click File then click Save", (ClickStep("File"), ClickStep("Save"))),
    ("click File and then click Save", (ClickStep("File"), ClickStep("Save"))),
    ("click File, then click Save", (ClickStep("File"), ClickStep("Save"))),
    ("click File, click Save; press enter", (ClickStep("File"), ClickStep("Save"), Press(("enter",)))),
    ("click File\nclick Save", (ClickStep("File"), ClickStep("Save"))),
    ("click Save and click OK", (ClickStep("Save"), ClickStep("OK"))),
    ("click Search and Replace", (ClickStep("Search and Replace"),)),  # no verb after "and": one target
    ("click 'Then' then wait 1", (ClickStep("Then"), WaitStep(1.0))),
    ("click Athens then press tab", (ClickStep("Athens"), Press(("tab",)))),
    (
        "click New, type 'Dear Sir, then' into Body and press enter, press ctrl+s",
        (ClickStep("New"), TypeInto("Dear Sir, then", "Body", True), Press(("ctrl", "s"))),
    ),
]

CHINESE: list[tuple[str, tuple[Step, ...]]] = [
    ("点击保存", (ClickStep("保存"),)),
    ("点击 保存", (ClickStep("保存"),)),
    ("单击“保存”按钮", (ClickStep("保存"),)),
    ("请点击确定", (ClickStep("确定"),)),
    ("双击我的文档", (ClickStep("我的文档", "left", 2),)),
    ("右键点击回收站", (ClickStep("回收站", "right", 1),)),
    ("右击取消", (ClickStep("取消", "right", 1),)),
    ("在名称中输入张三", (TypeInto("张三", "名称"),)),
    ("在搜索框输入hello", (TypeInto("hello", "搜索"),)),
    ("输入你好到备注", (TypeInto("你好", "备注"),)),
    ("输入你好", (TypeInto("你好"),)),
    ("按回车", (Press(("enter",)),)),
    ("按下 ctrl+s", (Press(("ctrl", "s")),)),
    ("按空格键", (Press(("space",)),)),
    ("向下滚动", (ScrollStep("down", DEFAULT_SCROLL_NOTCHES),)),
    ("向上滚动3次", (ScrollStep("up", 3),)),
    ("等待3秒", (WaitStep(3.0),)),
    ("点击文件然后点击保存", (ClickStep("文件"), ClickStep("保存"))),
    ("点击文件，然后点击保存", (ClickStep("文件"), ClickStep("保存"))),
    ("点击文件；点击保存", (ClickStep("文件"), ClickStep("保存"))),
    ("点击文件，点击保存", (ClickStep("文件"), ClickStep("保存"))),
    ("点击新建，在标题中输入周报，按下ctrl+s", (ClickStep("新建"), TypeInto("周报", "标题"), Press(("ctrl", "s")))),
]


@pytest.mark.parametrize(("task", "steps"), ENGLISH + JOINED + CHINESE)
def test_literal_tasks_become_plans(task: str, steps: tuple[Step, ...]) -> None:
    assert parse_task(task) == Plan(steps)


NOT_LITERAL = [
    "rename the three PDFs on the desktop by date",
    "open Firefox and find the cheapest flight to Tokyo",
    "enter your name",  # "enter" needs a field to be literal
    "append hello",  # to what?
    "append '' to Name",
    "add milk to the cart",  # "add ... to" is an append only as "to the end of"
    "press 5 times",
    "press Save",  # not a key, and not said to be a button
    "wait 0 s",
    "scroll sideways",
    "click Save then summarise the document",  # one part is not literal: the whole task needs a model
    "按照说明操作",
    "把所有文件按日期重命名",
    "",
    "   ",
]


@pytest.mark.parametrize("task", NOT_LITERAL)
def test_other_tasks_need_a_model(task: str) -> None:
    result = parse_task(task)
    assert isinstance(result, NeedsModel)
    assert "click Save" in result.reason  # it says what the OCR backend can do
    assert "--backend" in result.reason


def test_the_help_says_which_forms_replace_and_which_append() -> None:
    result = parse_task("summarise the document")
    assert isinstance(result, NeedsModel)
    assert "'type X into F' and 'fill F with X' replace what F holds" in result.reason
    assert "'append X to F' adds to its end" in result.reason
    for example in EXAMPLES:
        assert isinstance(parse_task(example), Plan), example


def test_the_reason_names_the_part_that_is_not_literal() -> None:
    result = parse_task("click Save then summarise the document")
    assert isinstance(result, NeedsModel)
    assert result.part == "summarise the document"
    assert "'summarise the document' is not a literal step" in result.reason


def test_a_bad_key_is_named() -> None:
    result = parse_task("press the big red thing")
    assert isinstance(result, NeedsModel)
    assert "'big red thing'" in result.reason and "not a key" in result.reason


def test_separators_inside_quotes_do_not_split() -> None:
    assert split_parts("type 'a; b, then c' into X, then click 'OK, then'") == [
        "type 'a; b, then c' into X",
        "click 'OK, then'",
    ]
    assert split_parts("click 「保存，然后」然后点击取消") == ["click 「保存，然后」", "点击取消"]


def test_steps_describe_themselves() -> None:
    assert ClickStep("Save", "left", 2).describe() == "Double-click 'Save'"
    assert ClickStep("Trash", "right").describe() == "Right-click 'Trash'"
    assert TypeInto("hi", "Name", submit=True).describe() == "Type 'hi' into 'Name' and press enter"
    assert TypeInto(".txt", "File", append=True).describe() == "Append '.txt' to the end of 'File'"
    assert Press(("ctrl", "s")).describe() == "Press ctrl+s"
    assert ScrollStep("down", 3, "List").describe() == "Scroll down 3 over 'List'"
    assert WaitStep(2.0).describe() == "Wait 2 s"
    assert ClickStep("File", window="Mousepad").describe() == "Click 'File' in the 'Mousepad' window"
    assert TypeInto("x", "Name", window="Save As").describe() == "Type 'x' into 'Name' in the 'Save As' window"
