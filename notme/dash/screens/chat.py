"""Chat with a run's model: its exported GGUF in llama.cpp, else the MLX model with its adapters. The
same session as `notme chat` (history kept per run, slash commands, the recipe's safety layer)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static

from notme.dash.screens.conversation import ConversationScreen
from notme.dash.widgets import Conversation, failure


class ChatScreen(ConversationScreen):
    BINDINGS = [Binding("escape", "leave", "Back")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.run_name = name
        self.backend = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading the model…", id="about", classes="summary")
        yield Conversation(id="messages")
        yield Input(placeholder="message, or /help", id="input", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"chat · {self.run_name}"
        self.load()

    @work(thread=True, exclusive=True, group="model")
    def load(self) -> None:
        from notme.chat.target import open_session, open_target

        try:
            found = open_target(str(self.app.watcher.runs[self.run_name].path))
            session = open_session(found, max_tokens=256)
        except Exception as e:  # shown on the screen, the dashboard stays up
            self.app.call_from_thread(self.query_one("#about", Static).update, Text(failure(e), style="bold red"))
            return
        self.app.call_from_thread(self.ready, found, session)

    def ready(self, found, session) -> None:
        self.session, self.backend, self.busy = session, found.backend, False
        about = f"chatting with {found.label}" + (", safety layer on" if session.safety else "")
        if found.notice:
            about += f"\n{found.notice}"
        self.query_one("#about", Static).update(Text(about))
        for message in session.messages:
            self.add(message["role"], message["content"])
        field = self.query_one("#input", Input)
        field.disabled = False
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line or self.busy or self.session is None:
            return
        event.input.value = ""
        if line.startswith("/"):
            shown = self.session.command(line)
            if shown is None:
                self.action_leave()
            else:
                self.add("note", shown)
            return
        self.send(line)

    def action_leave(self) -> None:
        if self.backend is not None and not self.busy:
            self.backend.close()
        self.app.pop_screen()
