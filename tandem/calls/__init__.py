"""The object a proxy holds for a call's life: route, admit, answer, end."""
