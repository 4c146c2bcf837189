"""`notme dash`: a Textual dashboard over the run records and corpora of the workspace.

    watch.py     what the dashboard knows: run records read incrementally from disk
    actions.py   what it can do: start / stop / resume / gate / export as separate processes
    app.py       the app: refresh timer, bindings, command palette, themes
    screens/     one screen per file, its CSS beside it
    widgets.py   small widgets that only render what they are given
"""
