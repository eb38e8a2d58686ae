#!/usr/bin/env python3
"""Generates the Northwind demo files customers.csv and leads.csv from northwind.sql.

The input is the PostgreSQL dump of the Northwind sample database. Only its
`INSERT INTO customers VALUES (...)` and `INSERT INTO suppliers VALUES (...)`
statements are read. Customers become CRM customers with one contact each;
suppliers become leads. The output is deterministic: the same dump always gives
byte-identical files, so a diff after re-running shows real changes only.

Usage (Python 3 standard library only):

    python3 demo/northwind/generate.py [PATH/TO/northwind.sql]

The default input is ../shared/data/northwind/northwind.sql seen from the
repository root. The files are written next to this script.
"""

import csv
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SQL = os.path.join(HERE, "..", "..", "..", "shared", "data", "northwind", "northwind.sql")

CUSTOMER_COLUMNS = [
    "customer_id", "company_name", "contact_name", "contact_title", "address", "city",
    "region", "postal_code", "country", "phone", "fax",
]
SUPPLIER_COLUMNS = [
    "supplier_id", "company_name", "contact_name", "contact_title", "address", "city",
    "region", "postal_code", "country", "phone", "fax", "homepage",
]

# Customer category codes, assigned by the country's region so that the demo has a few
# categories to filter and chart by. An unknown country stops the script rather than
# guessing.
CATEGORY_BY_COUNTRY = {
    "Austria": "europe", "Belgium": "europe", "Denmark": "europe", "Finland": "europe",
    "France": "europe", "Germany": "europe", "Ireland": "europe", "Italy": "europe",
    "Norway": "europe", "Poland": "europe", "Portugal": "europe", "Spain": "europe",
    "Sweden": "europe", "Switzerland": "europe", "UK": "europe",
    "Canada": "north_america", "USA": "north_america",
    "Argentina": "latin_america", "Brazil": "latin_america", "Mexico": "latin_america",
    "Venezuela": "latin_america",
}

SOURCE = "northwind"

# Characters a spreadsheet may read as the start of a formula. The demo data has none;
# the script refuses to write one rather than quietly changing a value.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_values(text, where):
    """Parses the inside of `VALUES (...)`: quoted strings, NULL and bare numbers.

    A quote inside a string is doubled (`''`); commas and `#` inside quotes are data.
    Returns a list of str or None.
    """
    values = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == "'":
            i += 1
            out = []
            while True:
                if i >= n:
                    raise ValueError(f"{where}: unterminated string")
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append(text[i])
                i += 1
            values.append("".join(out))
        else:
            start = i
            while i < n and text[i] not in ",":
                i += 1
            token = text[start:i].strip()
            if token == "NULL":
                values.append(None)
            elif token and all(c.isdigit() or c in "-." for c in token):
                values.append(token)
            else:
                raise ValueError(f"{where}: unexpected token {token!r}")
        while i < n and text[i] == " ":
            i += 1
        if i == n:
            return values
        if text[i] != ",":
            raise ValueError(f"{where}: expected a comma at {i}")
        i += 1


def read_inserts(sql_path, table, columns):
    """Rows of `INSERT INTO <table> VALUES (...);` statements, as dicts by column name."""
    prefix = f"INSERT INTO {table} VALUES ("
    rows = []
    with open(sql_path, encoding="utf-8") as sql:
        for number, line in enumerate(sql, start=1):
            if not line.startswith(prefix):
                continue
            line = line.rstrip("\n")
            if not line.endswith(");"):
                raise ValueError(f"line {number}: statement does not end on the same line")
            values = parse_values(line[len(prefix):-2], f"line {number}")
            if len(values) != len(columns):
                raise ValueError(f"line {number}: {len(values)} values, expected {len(columns)}")
            rows.append(dict(zip(columns, values)))
    return rows


def text(value):
    """The value as trimmed text; NULL becomes empty."""
    return "" if value is None else value.strip()


def full_address(row):
    """The street address with region and postal code folded in: `street, region code`."""
    tail = " ".join(part for part in (text(row["region"]), text(row["postal_code"])) if part)
    street = text(row["address"])
    return f"{street}, {tail}" if street and tail else street or tail


def homepage(value):
    """Splits an Access hyperlink `text#address#` into (web address, remark).

    Only an http(s) address becomes the website; anything else (Northwind has links to
    local .HTM files) is kept in the remarks as written.
    """
    raw = text(value)
    if not raw:
        return "", ""
    parts = raw.split("#")
    address = parts[1] if len(parts) >= 3 else raw
    if address.startswith(("http://", "https://")):
        return address, ""
    return "", f"Homepage: {raw}"


def customer_rows(sql_path):
    header = ["Code", "Name", "Category", "Source", "Address", "City", "Country", "Phone",
              "Remarks", "Contact name", "Title"]
    rows = []
    for row in sorted(read_inserts(sql_path, "customers", CUSTOMER_COLUMNS),
                      key=lambda r: r["customer_id"]):
        country = text(row["country"])
        if country not in CATEGORY_BY_COUNTRY:
            raise ValueError(f"customer {row['customer_id']}: no category for {country!r}")
        if not text(row["contact_name"]):
            raise ValueError(f"customer {row['customer_id']}: no contact name")
        fax = text(row["fax"])
        rows.append([
            text(row["customer_id"]), text(row["company_name"]), CATEGORY_BY_COUNTRY[country],
            SOURCE, full_address(row), text(row["city"]), country, text(row["phone"]),
            f"Fax: {fax}" if fax else "", text(row["contact_name"]), text(row["contact_title"]),
        ])
    return header, rows


def lead_rows(sql_path):
    header = ["Name", "Title", "Company", "Address", "City", "Country", "Phone", "Website",
              "Source", "Status", "Remarks"]
    rows = []
    for row in sorted(read_inserts(sql_path, "suppliers", SUPPLIER_COLUMNS),
                      key=lambda r: int(r["supplier_id"])):
        website, remark = homepage(row["homepage"])
        fax = text(row["fax"])
        remarks = "; ".join(part for part in (f"Fax: {fax}" if fax else "", remark) if part)
        rows.append([
            text(row["contact_name"]), text(row["contact_title"]), text(row["company_name"]),
            full_address(row), text(row["city"]), text(row["country"]), text(row["phone"]),
            website, SOURCE, "new", remarks,
        ])
    return header, rows


def write_csv(path, header, rows):
    """Writes UTF-8 with a byte order mark (so spreadsheet programs read it as UTF-8)."""
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                raise ValueError(f"{os.path.basename(path)}: {cell!r} looks like a formula")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        out.write(buffer.getvalue())


def main():
    sql_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SQL
    header, customers = customer_rows(sql_path)
    if len(customers) != 91:
        raise ValueError(f"expected 91 customers, found {len(customers)}")
    write_csv(os.path.join(HERE, "customers.csv"), header, customers)
    header, leads = lead_rows(sql_path)
    if len(leads) != 29:
        raise ValueError(f"expected 29 suppliers, found {len(leads)}")
    write_csv(os.path.join(HERE, "leads.csv"), header, leads)
    print(f"wrote {len(customers)} customers and {len(leads)} leads")


if __name__ == "__main__":
    main()
