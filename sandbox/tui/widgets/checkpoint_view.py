"""A lesson's checkpoint: its question, its choices or goal, and what came of the answer."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sandbox.course.lessons import Checkpoint
from sandbox.tui.learning import goal_text


class Choices(OptionList):
    """A checkpoint's choices. They hold the focus from the step's start without scrolling
    the text away from its top; the first key they get brings the question into view."""

    def on_key(self, event: events.Key) -> None:
        if isinstance(self.parent, Widget):  # the whole checkpoint: question and choices
            self.parent.scroll_visible(animate=False)
        letter = event.character or ""
        if len(letter) == 1 and "a" <= letter <= chr(ord("a") + self.option_count - 1):
            event.stop()  # `a`-`d` answer at once, as the letters in front of the choices say
            event.prevent_default()
            self.highlighted = ord(letter) - ord("a")
            self.action_select()


class CheckpointView(Vertical):
    """One checkpoint: its question, its choices (if any), and what came of it."""

    def __init__(self, point: Checkpoint, index: int, earlier: RenderableType = "") -> None:
        super().__init__(classes=f"checkpoint -{point.kind}")
        self.point = point
        self.index = index
        self.picked: int | None = None
        self._earlier = earlier  # what came of it before, shown until something new does

    def compose(self) -> ComposeResult:
        point = self.point
        kind = {"choice": "question", "predict": "predict, then measure",
                "challenge": "challenge"}[point.kind]
        if point.kind == "predict" and point.run is None:
            kind = "predict, then see"  # the step's response is its answer
        yield Static(Text.assemble((f"{kind}: ", "bold"), point.question),
                     classes="checkpoint-question")
        if point.kind == "challenge":
            yield Static(Text.assemble(("goal: ", "dim"), goal_text(point), "\n",
                                       ("change the switches in the playground (p; o copies "
                                        "this step's there), then press ", "dim"),
                                       ("c", "bold"), (" here to check", "dim")),
                         classes="checkpoint-goal")
        else:
            # Shown shuffled (see Checkpoint.display_order); each option's id is its index
            # in the lesson's list, which is what an answer records.
            yield Choices(*(Option(f"{chr(ord('a') + shown)}) {point.choices[i].text}",
                                   id=str(i))
                            for shown, i in enumerate(point.display_order())),
                          classes="checkpoint-choices")
            yield Static(Text("↑↓ and enter, or press its letter", style="dim"),
                         classes="checkpoint-keys")
        yield Static(self._earlier, classes="checkpoint-result")

    def result(self, text: RenderableType) -> None:
        self.query_one(".checkpoint-result", Static).update(text)
