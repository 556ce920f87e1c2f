"""Structured results of a .sql run (docs/sql.md, "Structured results").

Runs a file on a MariaDB or PostgreSQL server statement by statement, going
on after a failed statement as the servers' own clients do, or on a SQLite
database, stopping at a failed statement as the run's `sqlite3 -bail` does,
and writes one
JSON object per line on stdout for each result: a statement's result set
(columns with their types, rows, capped), its row count or affected rows,
its notices, or its error with the line and column it points at. The
server (crates/server/src/sql_results.rs) reads these lines defensively:
what this program prints is the boxed program's output like any other.

Usage: sql_results.py mysql|postgresql SOCKET_DIR FILE WALL_TIME_MS
       sql_results.py sqlite DATABASE FILE WALL_TIME_MS
Exit status: 0 when every statement succeeded, 1 when one failed, 2 when the
server (or the database file) could not be reached.
"""

import json
import re
import sys

# Caps; the server applies the same ones again (sql_results.rs).
MAX_ROWS = 1000
MAX_CELL_BYTES = 4096
MAX_STATEMENT_TEXT = 200
MAX_NOTICES = 20
# Rows stop being written for a statement past this many bytes of JSON,
# and for every later statement past the run's total budget.
STATEMENT_BUDGET = 256 * 1024
TOTAL_BUDGET = 768 * 1024


def cell(value):
    """A value as the protocol writes it: null, a string, or an object for
    a value cut at MAX_CELL_BYTES or one that is not UTF-8."""
    if value is None:
        return None
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": raw[: MAX_CELL_BYTES // 2].hex(), "bytes": len(raw)}
    if len(raw) <= MAX_CELL_BYTES:
        return text
    return {"text": raw[:MAX_CELL_BYTES].decode("utf-8", "ignore"), "bytes": len(raw)}


def line_and_column(source, offset):
    """1-based line and column of a character offset in source."""
    before = source[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def split_postgresql(source):
    """Yields (start, end) offsets of each statement, the way psql splits a
    file: semicolons outside quotes, comments, dollar quotes and
    parentheses; a backslash line is one meta-command."""
    i, n, start, depth = 0, len(source), None, 0
    while i < n:
        c = source[i]
        if start is None:
            if c.isspace():
                i += 1
                continue
            if source.startswith("--", i):
                i = _line_end(source, i)
                continue
            if source.startswith("/*", i):
                i = _pg_comment_end(source, i)
                continue
            if c == "\\":
                end = _line_end(source, i)
                yield i, end
                i = end
                continue
            start = i
        if source.startswith("--", i):
            i = _line_end(source, i)
        elif source.startswith("/*", i):
            i = _pg_comment_end(source, i)
        elif c == "'":
            escapes = i > 0 and source[i - 1] in "eE" and (i < 2 or not _word_char(source[i - 2]))
            i = _quoted_end(source, i, "'", escapes)
        elif c == '"':
            i = _quoted_end(source, i, '"', False)
        elif c == "$" and not (i > 0 and _word_char(source[i - 1])):
            match = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$").match(source, i)
            if match:
                close = source.find(match.group(0), match.end())
                i = n if close < 0 else close + len(match.group(0))
            else:
                i += 1
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth = max(0, depth - 1)
            i += 1
        elif c == ";" and depth == 0:
            yield start, i + 1
            start = None
            i += 1
        else:
            i += 1
    if start is not None:
        yield start, n


def split_mysql(source):
    """Yields (start, end) offsets of each statement, the way the mariadb
    client splits a file: the delimiter (`;`, or what a DELIMITER line
    sets) outside quotes and comments."""
    i, n, start, delimiter = 0, len(source), None, ";"
    while i < n:
        c = source[i]
        if start is None:
            if c.isspace():
                i += 1
                continue
            if c == "#" or _mysql_dash_comment(source, i):
                i = _line_end(source, i)
                continue
            if source.startswith("/*", i) and not re.compile(r"/\*M?!").match(source, i):
                i = _c_comment_end(source, i)
                continue
            match = re.compile(r"delimiter[ \t]+(\S+)[^\n]*", re.IGNORECASE).match(source, i)
            if match:
                delimiter = match.group(1)
                i = match.end()
                continue
            start = i
        if c == "#" or _mysql_dash_comment(source, i):
            i = _line_end(source, i)
        elif source.startswith("/*", i):
            i = _c_comment_end(source, i)
        elif c in "'\"`":
            i = _quoted_end(source, i, c, c != "`")
        elif source.startswith(delimiter, i):
            # The client sends a statement without its delimiter.
            yield start, i
            start = None
            i += len(delimiter)
        else:
            i += 1
    if start is not None:
        yield start, n


def split_sqlite(source):
    """Yields (start, end) offsets of each statement, the way the sqlite3
    shell splits a file: a semicolon outside quotes, identifiers and
    comments that completes a statement (one inside a trigger's
    BEGIN ... END does not: sqlite3.complete_statement says which)."""
    import sqlite3

    i, n, start = 0, len(source), None
    while i < n:
        c = source[i]
        if start is None:
            if c.isspace() or c == ";":
                i += 1
                continue
            if source.startswith("--", i):
                i = _line_end(source, i)
                continue
            if source.startswith("/*", i):
                i = _c_comment_end(source, i)
                continue
            start = i
        if source.startswith("--", i):
            i = _line_end(source, i)
        elif source.startswith("/*", i):
            i = _c_comment_end(source, i)
        elif c in "'\"`":
            i = _quoted_end(source, i, c, False)
        elif c == "[":
            close = source.find("]", i + 1)
            i = n if close < 0 else close + 1
        elif c == ";" and sqlite3.complete_statement(source[start : i + 1]):
            yield start, i + 1
            start = None
            i += 1
        else:
            i += 1
    if start is not None:
        yield start, len(source.rstrip())


def _word_char(c):
    return c.isalnum() or c == "_"


def _line_end(source, i):
    end = source.find("\n", i)
    return len(source) if end < 0 else end + 1


def _c_comment_end(source, i):
    """The end of a /* comment */ that does not nest (MariaDB's, SQLite's)."""
    close = source.find("*/", i + 2)
    return len(source) if close < 0 else close + 2


def _pg_comment_end(source, i):
    depth, i = 1, i + 2
    while i < len(source) and depth:
        if source.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif source.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _mysql_dash_comment(source, i):
    return source.startswith("--", i) and (i + 2 == len(source) or source[i + 2].isspace())


def _quoted_end(source, i, quote, backslash_escapes):
    i += 1
    while i < len(source):
        c = source[i]
        if backslash_escapes and c == "\\":
            i += 2
        elif c == quote:
            if source.startswith(quote, i + 1):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return len(source)


class Writer:
    """Writes result lines, keeping within the budgets."""

    def __init__(self):
        self.total = 0
        self.failed = False

    def write(self, record):
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        self.total += len(line) + 1
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def rows(self, fetch_rows):
        """Collects capped rows from an iterator of rows; returns (rows,
        rows seen in all, truncated)."""
        rows, seen, size, truncated = [], 0, 0, False
        for row in fetch_rows:
            seen += 1
            if truncated:
                continue
            if len(rows) >= MAX_ROWS or size > STATEMENT_BUDGET or self.total + size > TOTAL_BUDGET:
                truncated = True
                continue
            cells = [cell(value) for value in row]
            size += len(json.dumps(cells, ensure_ascii=False)) + 1
            rows.append(cells)
        return rows, seen, truncated


def statement_record(index, source, start, end):
    line, _ = line_and_column(source, start)
    end_line, _ = line_and_column(source, max(start, end - 1))
    text = source[start:end].strip()
    if len(text) > MAX_STATEMENT_TEXT:
        text = text[:MAX_STATEMENT_TEXT] + "…"
    return {"statement": index, "line": line, "end_line": end_line, "text": text}


def run_postgresql(socket_dir, source, wall_ms, out):
    import psycopg

    notices = []
    try:
        conn = psycopg.connect(
            host=socket_dir,
            user="postgres",
            dbname="postgres",
            autocommit=True,
            options=f"-c statement_timeout={wall_ms}",
        )
    except psycopg.Error as error:
        print(f"cannot connect to the PostgreSQL server: {error}", file=sys.stderr)
        return 2
    # A loop that raises notices without end keeps only the first ones.
    conn.add_notice_handler(lambda diag: len(notices) < MAX_NOTICES and notices.append(diag.message_primary or ""))
    type_names = {}

    def type_name(oid):
        if oid not in type_names:
            info = conn.adapters.types.get(oid)
            if info is not None:
                type_names[oid] = info.name
            else:
                with conn.cursor() as lookup:
                    lookup.execute("SELECT format_type(%s, NULL)", (oid,))
                    type_names[oid] = lookup.fetchone()[0]
        return type_names[oid]

    for index, (start, end) in enumerate(split_postgresql(source)):
        record = statement_record(index, source, start, end)
        statement = source[start:end]
        if statement.startswith("\\"):
            out.failed = True
            record["error"] = {
                "message": "psql meta-commands are not run with structured results",
                "line": record["line"],
            }
            out.write(record)
            continue
        notices.clear()
        cursor = conn.cursor()
        try:
            cursor.execute(statement.encode("utf-8"), prepare=False)
        except psycopg.Error as error:
            out.failed = True
            message = error.diag.message_primary or str(error)
            detail = {"message": message, "code": error.diag.sqlstate, "line": record["line"]}
            position = error.diag.statement_position
            if position and position.isdigit():
                line, column = line_and_column(source, start + int(position) - 1)
                detail["line"], detail["column"] = line, column
            record["error"] = detail
            record["notices"] = list(notices)
            out.write(record)
            continue
        while True:
            result = dict(record)
            result["command"] = cursor.statusmessage
            if cursor.description is not None:
                columns = [{"name": c.name, "type": type_name(c.type_code)} for c in cursor.description]
                pgresult = cursor.pgresult
                ncols = len(columns)
                raw_rows = (
                    [pgresult.get_value(r, c) for c in range(ncols)] for r in range(pgresult.ntuples)
                )
                rows, seen, truncated = out.rows(raw_rows)
                result.update(columns=columns, rows=rows, row_count=seen, truncated=truncated)
            else:
                result["affected_rows"] = cursor.rowcount if cursor.rowcount >= 0 else None
            result["notices"] = list(notices)
            notices.clear()
            out.write(result)
            if not cursor.nextset():
                break
        cursor.close()
    return 1 if out.failed else 0


# MariaDB's collation number of binary strings.
BINARY = 63
# MariaDB's protocol names of types, as SQL names them.
MYSQL_TYPES = {
    "tiny": "tinyint",
    "short": "smallint",
    "int24": "mediumint",
    "long": "int",
    "longlong": "bigint",
    "newdecimal": "decimal",
    "var_string": "varchar",
    "string": "char",
}


def mysql_warnings(conn, result):
    """The statement's warnings, as the mariadb client's --show-warnings
    prints them; asked only when the server counted some and no further
    result of the statement is pending (a query then would be out of turn)."""
    if result is None or not result.warning_count or result.has_next:
        return []
    return [f"{level} {code}: {message}" for level, code, message in conn.show_warnings()[:MAX_NOTICES]]


def mysql_type(type_names, code, binary):
    name = type_names.get(code, str(code))
    if name.endswith("blob"):
        return name if binary else name.replace("blob", "text")
    if name in ("var_string", "string") and binary:
        return "varbinary" if name == "var_string" else "binary"
    return MYSQL_TYPES.get(name, name)


def run_mysql(socket_dir, source, wall_ms, out):
    import pymysql
    from pymysql.constants import FIELD_TYPE

    type_names = {value: name.lower() for name, value in vars(FIELD_TYPE).items() if name.isupper()}
    try:
        conn = pymysql.connect(
            unix_socket=f"{socket_dir}/mysqld.sock",
            user="root",
            database="main",
            charset="utf8mb4",
            conv={},
            autocommit=True,
            local_infile=False,
            init_command=f"SET SESSION max_statement_time={(int(wall_ms) + 999) // 1000}",
        )
    except pymysql.MySQLError as error:
        print(f"cannot connect to the MariaDB server: {error}", file=sys.stderr)
        return 2
    at_line = re.compile(r"at line (\d+)$")
    for index, (start, end) in enumerate(split_mysql(source)):
        record = statement_record(index, source, start, end)
        statement = source[start:end]
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(statement)
            while True:
                result = dict(record)
                if cursor.description is not None:
                    columns = [
                        {"name": field.name, "type": mysql_type(type_names, field.type_code, field.charsetnr == BINARY)}
                        for field in cursor._result.fields
                    ]
                    rows, seen, truncated = out.rows(iter(cursor.fetchone, None))
                    result.update(columns=columns, rows=rows, row_count=seen, truncated=truncated)
                else:
                    result["affected_rows"] = cursor.rowcount if cursor.rowcount >= 0 else None
                result["notices"] = mysql_warnings(conn, cursor._result)
                out.write(result)
                if not cursor.nextset():
                    break
        except pymysql.MySQLError as error:
            out.failed = True
            code, message = error.args[:2] if len(error.args) >= 2 else (None, str(error))
            detail = {"message": str(message), "code": None if code is None else str(code), "line": record["line"]}
            match = at_line.search(str(message))
            if match:
                detail["line"] = record["line"] + int(match.group(1)) - 1
            record["error"] = detail
            out.write(record)
        finally:
            try:
                cursor.close()
            except pymysql.MySQLError:
                pass
    return 1 if out.failed else 0


class SqliteText(bytes):
    """A TEXT value as its bytes (SQLite does not check that text is UTF-8;
    cell() shows what is not as hex), told apart from a BLOB's."""


def sqlite_value(value):
    """A value as the sqlite3 shell prints it, for cell()."""
    if isinstance(value, float):
        # The shell's "%!.15g": 15 digits, and a REAL always shows a point.
        text = f"{value:.15g}"
        mantissa, e, exponent = text.partition("e")
        if mantissa.lstrip("-").isdigit():
            text = f"{mantissa}.0{e}{exponent}"
        return text
    if isinstance(value, int):
        return str(value)
    return value


def sqlite_type(classes):
    """A result column's type: SQLite's columns have none of their own, so
    it is the storage class of its values, `real` for integers mixed with
    reals, `any` (as STRICT tables name it) for other mixes or no rows,
    `null` when every value is NULL."""
    known = classes - {"null"}
    if known == {"integer", "real"}:
        return "real"
    if len(known) == 1:
        return next(iter(known))
    return "null" if classes == {"null"} else "any"


# Where an error message names what it is about: the first occurrence of
# that in the statement is the error's line and column.
SQLITE_ERROR_SUBJECT = re.compile(r'near "(.+?)": syntax error|no such (?:table|column|function): (\S+)')


def sqlite_error_position(statement, message):
    match = SQLITE_ERROR_SUBJECT.search(message)
    if not match:
        return None
    subject = match.group(1) or match.group(2)
    at = re.search(re.escape(subject) + (r"\b" if _word_char(subject[-1]) else ""), statement)
    return at.start() if at else None


def run_sqlite(database, source, wall_ms, out):
    import sqlite3

    try:
        conn = sqlite3.connect(database, isolation_level=None)
    except sqlite3.Error as error:
        print(f"cannot open the SQLite database: {error}", file=sys.stderr)
        return 2
    conn.text_factory = SqliteText
    # SQLite's storage classes, by the Python type a value comes as.
    classes_of_type = {int: "integer", float: "real", SqliteText: "text", bytes: "blob", type(None): "null"}
    for index, (start, end) in enumerate(split_sqlite(source)):
        record = statement_record(index, source, start, end)
        statement = source[start:end]
        cursor = conn.cursor()
        try:
            cursor.execute(statement)
            result = dict(record)
            if cursor.description is not None:
                names = [column[0] for column in cursor.description]
                classes = [set() for _ in names]

                def values():
                    for row in cursor:
                        for seen, value in zip(classes, row):
                            seen.add(classes_of_type.get(type(value), "any"))
                        yield [sqlite_value(value) for value in row]

                rows, seen, truncated = out.rows(values())
                columns = [{"name": name, "type": sqlite_type(c)} for name, c in zip(names, classes)]
                result.update(columns=columns, rows=rows, row_count=seen, truncated=truncated)
            else:
                result["affected_rows"] = cursor.rowcount if cursor.rowcount >= 0 else None
            result["notices"] = []
            out.write(result)
        except sqlite3.Error as error:
            out.failed = True
            message = str(error)
            # SQLite's extended code when it says more than SQLITE_ERROR
            # (SQLITE_CONSTRAINT_UNIQUE, SQLITE_READONLY, ...).
            code = getattr(error, "sqlite_errorname", None)
            detail = {"message": message, "code": None if code == "SQLITE_ERROR" else code, "line": record["line"]}
            position = sqlite_error_position(statement, message)
            if position is not None:
                detail["line"], detail["column"] = line_and_column(source, start + position)
            record["error"] = detail
            out.write(record)
            # The run's `sqlite3 -bail` stops at the first failed statement.
            break
        finally:
            cursor.close()
    conn.close()
    return 1 if out.failed else 0


def main():
    dialect, socket_dir, path, wall_ms = sys.argv[1:5]
    with open(path, "rb") as file:
        source = file.read().decode("utf-8", "replace")
    sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    run = {"mysql": run_mysql, "postgresql": run_postgresql, "sqlite": run_sqlite}[dialect]
    return run(socket_dir, source, int(wall_ms), Writer())


if __name__ == "__main__":
    sys.exit(main())
