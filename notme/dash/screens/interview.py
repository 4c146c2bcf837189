"""Interview: talk with the model about harm on the left, the constitution draft beside it on the right.
Draft (F2 or /draft) asks the model for one (into the editor), Accept (F3 or /accept) makes the edited
text the constitution. The same session as `notme interview` (transcript saved after every turn)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Header, Input, Static, TextArea

from notme.constitution import store
from notme.dash.screens.conversation import ConversationScreen
from notme.dash.widgets import Conversation, failure


class InterviewScreen(ConversationScreen):
    CSS_PATH = "interview.tcss"
    # Function keys: the input and the editor use the ctrl keys for editing.
    BINDINGS = [Binding("escape", "leave", "Back"), Binding("f2", "draft", "Draft", priority=True),
                Binding("f3", "accept", "Accept", priority=True)]

    def __init__(self, target: str | None = None, recipe: str = "constitution") -> None:
        super().__init__()
        self.target, self.recipe_name = target, recipe

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading the model…", id="about", classes="summary")
        with Horizontal():
            with Vertical(id="talk"):
                yield Conversation(id="messages")
                yield Input(placeholder="talk with the model", id="input", disabled=True)
            with Vertical(id="side"):
                yield TextArea(id="draft", soft_wrap=True)
                with Horizontal(id="draft-actions"):
                    yield Button("Draft (F2)", id="draft-button", compact=True, disabled=True)
                    yield Button("Accept (F3)", id="accept-button", compact=True, variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "interview"
        current = store.constitution_dir() / store.CURRENT
        draft = store.draft_path()
        for path in (draft, current):
            if path.is_file():
                self.query_one("#draft", TextArea).text = path.read_text(encoding="utf-8")
                break
        self.load()

    @work(thread=True, exclusive=True, group="model")
    def load(self) -> None:
        from notme.constitution.interview import start_interview
        from notme.constitution.model import open_model
        from notme.recipe import load_recipe

        try:
            recipe = load_recipe(self.recipe_name).data
            backend = open_model(self.target, recipe["base"]["model"])
            session = start_interview(backend, recipe, resume=True)
            opening = "".join(session.opening())
        except Exception as e:  # shown on the screen, the dashboard stays up
            self.app.call_from_thread(self.query_one("#about", Static).update, Text(failure(e), style="bold red"))
            return
        self.app.call_from_thread(self.ready, session, opening)

    def ready(self, session, opening: str) -> None:
        self.session, self.busy = session, False
        model = session.backend.describe().get("model")
        self.query_one("#about", Static).update(Text(f"interview with {model} · transcript {session.history_path}"))
        for message in session.messages:
            self.add(message["role"], message["content"])
        self.query_one("#input", Input).disabled = False
        self.query_one("#draft-button", Button).disabled = False
        self.query_one("#input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line or self.busy or self.session is None:
            return
        event.input.value = ""
        if not line.startswith("/"):
            self.send(line)
            return
        # typed commands do what they do in `notme interview`; the draft and accept go through this screen
        name = line.partition(" ")[0]
        if name == "/draft":
            self.action_draft()
        elif name == "/accept":
            self.action_accept()
        elif name == "/edit":
            self.query_one("#draft", TextArea).focus()
            self.add("note", "edit the draft on the right, then Accept (F3)")
        else:
            shown = self.session.command(line)
            if shown is None:
                self.action_leave()
            else:
                self.add("note", shown)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "draft-button":
            self.action_draft()
        elif event.button.id == "accept-button":
            self.action_accept()

    def action_draft(self) -> None:
        if self.busy or self.session is None:
            return
        self.busy = True
        self.add("user", self.session.draft_request)
        self.drafting(self.add("assistant", "drafting…"), self.query_one("#draft", TextArea).text)

    @work(thread=True, group="reply")
    def drafting(self, bubble: Static, before: str) -> None:
        try:
            text = self.session.draft()
        except Exception as e:  # shown in the bubble, the interview goes on
            self.app.call_from_thread(bubble.update, f"(no draft: {failure(e)})")
        else:
            self.app.call_from_thread(bubble.update, text)
            self.app.call_from_thread(self.show_draft, text, before)
        finally:
            self.app.call_from_thread(setattr, self, "busy", False)

    def show_draft(self, text: str, before: str) -> None:
        editor = self.query_one("#draft", TextArea)
        if editor.text != before:  # the owner wrote in the editor while the model drafted: theirs stays
            self.notify(f"the model's draft is in {store.draft_path()} and on the left; your edits stay here",
                        severity="warning", timeout=10)
            return
        editor.text = text

    def action_accept(self) -> None:
        text = self.query_one("#draft", TextArea).text
        if not text.strip():
            self.notify("the draft is empty: Draft first, or write the constitution on the right", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            from notme.corpus.store import atomic_write

            store.draft_path().parent.mkdir(parents=True, exist_ok=True)
            atomic_write(store.draft_path(), text.strip() + "\n")
            transcript = self.session.history_path if self.session else store.new_transcript()
            model = self.session.backend.describe() if self.session else {}
            version = store.accept(text, transcript, model)
            self.notify(f"accepted as {version.name}: the constitution practice writes scenarios from")

        from notme.dash.screens.confirm import ConfirmScreen

        self.app.push_screen(ConfirmScreen("Accept this draft as the constitution?"), answered)

    def action_leave(self) -> None:
        if self.session is not None and not self.busy:
            self.session.backend.close()
        self.app.pop_screen()
