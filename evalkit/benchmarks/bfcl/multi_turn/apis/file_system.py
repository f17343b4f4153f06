"""GorillaFileSystem: an in-memory tree of directories and text files with a working directory.

Behaviour (results, error texts, what changes the state) follows BFCL v3's simulation, so
that the model sees what it would see there and end states compare the same way. The
state compared between runs is the tree under `root` (names and file contents).
"""

from __future__ import annotations

from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.long_context import long_context_data

_BAD_NAME_CHARS = '|/\\?%*:"><'


class File:
    def __init__(self, name: str, content: str = "") -> None:
        self.name = name
        self.content = content

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and (self.name, self.content) == (other.name, other.content)

    def __repr__(self) -> str:
        return f"<<File: {self.name}, Content: {self.content}>>"


class Directory:
    def __init__(self, name: str, parent: Directory | None = None) -> None:
        self.name = name
        self.parent = parent
        self.contents: dict[str, File | Directory] = {}

    def __eq__(self, other: object) -> bool:
        # The parent is not part of a directory's identity (moves keep stale parents).
        return isinstance(other, Directory) and (self.name, self.contents) == (other.name, other.contents)

    def __repr__(self) -> str:
        parent = self.parent.name if self.parent else None
        return f"<Directory: {self.name}, Parent: {parent}, Contents: {self.contents}>"

    def add_file(self, name: str, content: str = "") -> None:
        if name in self.contents:
            raise ValueError(f"File '{name}' already exists in directory '{self.name}'.")
        self.contents[name] = File(name, content)

    def add_directory(self, name: str) -> Directory:
        if name in self.contents:
            raise ValueError(f"Directory '{name}' already exists in directory '{self.name}'.")
        d = Directory(name, self)
        self.contents[name] = d
        return d


def _valid_name(name: str) -> bool:
    return not any(c in name for c in _BAD_NAME_CHARS)


class GorillaFileSystem:
    def __init__(self) -> None:
        self.root = Directory("/", None)
        self.long_context = False
        self._cwd = self.root

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        self.long_context = long_context
        self.root = Directory("/", None)
        if "root" in scenario:
            (name, spec), *_ = scenario["root"].items()
            self.root = self._build(spec["contents"], Directory(name, None))
        self._cwd = self.root

    def _build(self, contents: dict[str, Any], into: Directory) -> Directory:
        leaf = True
        lc = long_context_data() if self.long_context else None
        for name, spec in contents.items():
            if spec["type"] == "directory":
                leaf = False
                into.contents[name] = self._build(spec["contents"], Directory(name, into))
            elif spec["type"] == "file":
                text = spec["content"]
                if lc is not None and name not in lc["FILES_TAIL_USED"]:
                    text += lc["FILE_CONTENT_EXTENSION"]
                into.contents[name] = File(name, text)
        if leaf and lc is not None:  # long context: the deepest directories get many extra files
            for extra in lc["POPULATE_FILE_EXTENSION"]:
                into.add_file(extra)
        return into

    def _resolve(self, path: str | None) -> Directory | dict[str, str]:
        if path is None or path == ".":
            return self._cwd
        if path == "/":
            return self.root
        parts = path.strip("/").split("/")
        node = self.root if path.startswith("/") else self._cwd
        for part in parts:
            # A "." segment stays where it is (BFCL's `_get_item`): `cd(folder='./X')` works.
            nxt = node if part == "." else node.contents.get(part)
            if not isinstance(nxt, Directory):
                return {"error": f"cd: '{path}': No such file or directory"}
            node = nxt
        return node

    def _file(self, name: str) -> File | None:
        item = self._cwd.contents.get(name)
        return item if isinstance(item, File) else None

    def pwd(self) -> dict[str, str]:
        names = []
        node: Directory | None = self._cwd
        while node is not None:  # up to and including the root's own name
            names.append(node.name)
            node = node.parent
        return {"current_working_directory": "/" + "/".join(reversed(names))}

    def ls(self, a: bool = False) -> dict[str, list[str]]:
        names = list(self._cwd.contents)
        return {"current_directory_content": names if a else [n for n in names if not n.startswith(".")]}

    def cd(self, folder: str) -> dict[str, str]:
        if folder == "..":
            if self._cwd.parent:
                self._cwd = self._cwd.parent
                return {}
            if self._cwd == self.root:
                return {"error": "Cuurent directory is already the root. Cannot go back."}
            return {"error": "cd: ..: No such directory"}
        target = self._resolve(folder)
        if isinstance(target, dict):
            return {"error": f"cd: {folder}: No such directory. You cannot use path to change directory."}
        self._cwd = target
        return {"current_working_directory": target.name}

    def mkdir(self, dir_name: str) -> dict[str, str] | None:
        if not _valid_name(dir_name):
            return {"error": f"mkdir: cannot create directory '{dir_name}': Invalid character"}
        if dir_name in self._cwd.contents:
            return {"error": f"mkdir: cannot create directory '{dir_name}': File exists"}
        self._cwd.add_directory(dir_name)
        return None

    def touch(self, file_name: str) -> dict[str, str] | None:
        if not _valid_name(file_name):
            return {"error": f"touch: cannot touch '{file_name}': Invalid character"}
        if file_name in self._cwd.contents:
            return {"error": f"touch: cannot touch '{file_name}': File exists"}
        self._cwd.add_file(file_name)
        return None

    def echo(self, content: str, file_name: str | None = None) -> dict[str, str] | None:
        if file_name is None:
            return {"terminal_output": content}
        if not _valid_name(file_name):
            return {"error": f"echo: cannot touch '{file_name}': Invalid character"}
        if not file_name:
            return {"terminal_output": content}
        item = self._cwd.contents.get(file_name)
        if item is None:
            self._cwd.add_file(file_name, content)
        elif isinstance(item, File):
            item.content = content
        else:  # BFCL calls a file method on the directory
            raise AttributeError("'Directory' object has no attribute '_write'")
        return None

    def cat(self, file_name: str) -> dict[str, str]:
        if not _valid_name(file_name):
            return {"error": f"cat: '{file_name}': Invalid character"}
        item = self._cwd.contents.get(file_name)
        if item is None:
            return {"error": f"cat: {file_name}: No such file or directory"}
        if isinstance(item, Directory):
            return {"error": f"cat: {file_name}: Is a directory"}
        return {"file_content": item.content}

    def find(self, path: str = ".", name: str | None = None) -> dict[str, list[str]]:
        # The search always starts in the working directory; `path` only prefixes the results.
        found: list[str] = []

        def walk(d: Directory, prefix: str) -> None:
            for child_name, child in d.contents.items():
                here = f"{prefix}/{child_name}"
                if name is None or name in child_name:
                    found.append(here)
                if isinstance(child, Directory):
                    walk(child, here)

        walk(self._cwd, path.rstrip("/"))
        return {"matches": found}

    def wc(self, file_name: str, mode: str = "l") -> dict[str, object]:
        if mode not in ("l", "w", "c"):
            return {"error": f"wc: invalid mode '{mode}'"}
        f = self._file(file_name)
        if f is None:
            return {"error": f"wc: {file_name}: No such file or directory"}
        if mode == "l":
            return {"count": len(f.content.splitlines()), "type": "lines"}
        if mode == "w":
            return {"count": len(f.content.split()), "type": "words"}
        return {"count": len(f.content), "type": "characters"}

    def sort(self, file_name: str) -> dict[str, str]:
        f = self._file(file_name)
        if f is None:
            return {"error": f"sort: {file_name}: No such file or directory"}
        return {"sorted_content": "\n".join(sorted(f.content.splitlines()))}

    def grep(self, file_name: str, pattern: str) -> dict[str, object]:
        f = self._file(file_name)
        if f is None:
            return {"error": f"grep: {file_name}: No such file or directory"}
        return {"matching_lines": [line for line in f.content.splitlines() if pattern in line]}

    def du(self, human_readable: bool = False) -> dict[str, str]:
        def size(item: File | Directory) -> int:
            if isinstance(item, File):
                return len(item.content.encode("utf-8"))
            return sum(size(c) for c in item.contents.values())

        total: float = size(self._cwd)
        if not human_readable:
            return {"disk_usage": f"{int(total)} bytes"}
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if total < 1024:
                return {"disk_usage": f"{total:.2f} {unit}"}
            total /= 1024
        return {"disk_usage": f"{total:.2f} PB"}

    def tail(self, file_name: str, lines: int = 10) -> dict[str, str]:
        f = self._file(file_name)
        if f is None:
            return {"error": f"tail: {file_name}: No such file or directory"}
        all_lines = f.content.splitlines()
        n = len(all_lines) if lines > len(all_lines) else lines  # BFCL's test, and its TypeError
        return {"last_lines": "\n".join(all_lines[-n:])}

    def diff(self, file_name1: str, file_name2: str) -> dict[str, str]:
        # Both names are looked up before either item (an unusable second name is not reached
        # when the first is missing).
        if not (file_name1 in self._cwd.contents and file_name2 in self._cwd.contents):
            return {"error": f"diff: {file_name1} or {file_name2}: No such file or directory"}
        f1, f2 = self._file(file_name1), self._file(file_name2)
        if f1 is None or f2 is None:
            return {"error": f"diff: {file_name1} or {file_name2}: No such file or directory"}
        pairs = zip(f1.content.splitlines(), f2.content.splitlines(), strict=False)
        return {"diff_lines": "\n".join(f"- {a}\n+ {b}" for a, b in pairs if a != b)}

    def _copy_into(self, target: Directory, name: str, item: File | Directory, share: bool) -> None:
        if isinstance(item, File):
            target.add_file(name, item.content)
        else:
            d = target.add_directory(name)
            d.contents = item.contents if share else dict(item.contents)

    def mv(self, source: str, destination: str) -> dict[str, str]:
        item = self._cwd.contents.get(source)
        if item is None:
            return {"error": f"mv: cannot move '{source}': No such file or directory"}
        if "/" in destination:
            return {
                "error": "mv: no path allowed in destination. Only file name and folder name is supported "
                "for this operation."
            }
        dest = self._cwd.contents.get(destination)
        if dest is None:
            self._cwd.contents.pop(source)
            self._copy_into(self._cwd, destination, item, share=True)
            return {"result": f"'{source}' moved to '{destination}'"}
        if not isinstance(dest, Directory):
            return {"error": f"mv: cannot move '{source}' to '{destination}': Not a directory"}
        if source in dest.contents:
            return {"error": f"mv: cannot move '{source}' to '{destination}/{source}': File exists"}
        self._cwd.contents.pop(source)
        self._copy_into(dest, source, item, share=True)
        return {"result": f"'{source}' moved to '{destination}/{source}'"}

    def rm(self, file_name: str) -> dict[str, str]:
        if file_name not in self._cwd.contents:
            return {"error": f"rm: cannot remove '{file_name}': No such file or directory"}
        self._cwd.contents.pop(file_name)
        return {"result": f"'{file_name}' removed"}

    def rmdir(self, dir_name: str) -> dict[str, str]:
        item = self._cwd.contents.get(dir_name)
        if item is None:
            return {"error": f"rmdir: cannot remove '{dir_name}': No such file or directory"}
        if not isinstance(item, Directory):
            return {"error": f"rmdir: cannot remove '{dir_name}': Not a directory"}
        if item.contents:
            return {"error": f"rmdir: failed to remove '{dir_name}': Directory not empty"}
        self._cwd.contents.pop(dir_name)
        return {"result": f"'{dir_name}' removed"}

    def cp(self, source: str, destination: str) -> dict[str, str]:
        item = self._cwd.contents.get(source)
        if item is None:
            return {"error": f"cp: cannot copy '{source}': No such file or directory"}
        if "/" in destination:
            return {
                "error": "cp: don't allow path in destination. Only file name and folder name is supported "
                "for this operation."
            }
        dest = self._cwd.contents.get(destination)
        if dest is None:
            self._copy_into(self._cwd, destination, item, share=False)
            return {"result": f"'{source}' copied to '{destination}'"}
        if not isinstance(dest, Directory):
            return {"error": f"cp: cannot copy '{source}' to '{destination}': Not a directory"}
        # A name clash inside the target raises (BFCL's existence test looks for "dest/source").
        self._copy_into(dest, source, item, share=False)
        return {"result": f"'{source}' copied to '{destination}/{source}'"}
