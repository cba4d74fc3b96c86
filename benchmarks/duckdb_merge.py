"""The benchmark merge as a DuckDB SQL script: the peer crmsync is measured
against. Same cascade and fill_empty semantics as benchmarks' job.yaml:

- each vendor file matches on its key (email, phone, first+last+zip),
  normalised the way crmsync normalises the benchmark's noise;
- several vendor rows with one key: the first in file order;
- a vendor row that several original rows share a first + last + zip key
  with goes to none of them (crmsync's cascade assignment: that key does
  not tell namesakes apart);
- Phone and Title: a blank original value is filled, a non-empty one kept;
- new columns appended in source order; rows in original order.

    python benchmarks/duckdb_merge.py DATA_DIR OUT.csv
"""

import sys

import duckdb

SQL = """
CREATE MACRO email_key(e) AS nullif(lower(trim(e)), '');
CREATE MACRO phone_digits(p) AS regexp_replace(coalesce(p, ''), '[^0-9]', '', 'g');
CREATE MACRO phone_key(p) AS CASE
  WHEN length(phone_digits(p)) = 10 THEN '+1' || phone_digits(p)
  WHEN length(phone_digits(p)) = 11 AND phone_digits(p)[1] = '1'
    THEN '+' || phone_digits(p) END;
CREATE MACRO name_key(n) AS nullif(lower(strip_accents(trim(n))), '');
CREATE MACRO zip_key(z) AS nullif(left(trim(z), 5), '');

CREATE TEMP TABLE crm AS
  SELECT *, count(*) OVER (PARTITION BY fk) AS namesakes FROM (
    SELECT *, row_number() OVER () AS rn,
           name_key(First) || chr(31) || name_key(Last) || chr(31) ||
           zip_key(Zip) AS fk
    FROM read_csv('{d}/crm.csv', all_varchar = true, header = true));

CREATE TEMP TABLE ev AS
  SELECT * FROM (
    SELECT email_key("E-mail Address") AS k, Email_Verified, LinkedIn_URL,
           row_number() OVER () AS rn
    FROM read_csv('{d}/enriched_email.csv', all_varchar = true, header = true))
  WHERE k IS NOT NULL QUALIFY row_number() OVER (PARTITION BY k ORDER BY rn) = 1;

CREATE TEMP TABLE pv AS
  SELECT * FROM (
    SELECT phone_key("Mobile Phone") AS k, "Mobile Phone" AS Phone,
           Phone_Type, Carrier, row_number() OVER () AS rn
    FROM read_csv('{d}/enriched_phone.csv', all_varchar = true, header = true))
  WHERE k IS NOT NULL QUALIFY row_number() OVER (PARTITION BY k ORDER BY rn) = 1;

CREATE TEMP TABLE fv AS
  SELECT * FROM (
    SELECT name_key("First Name") || chr(31) || name_key("Last Name") ||
           chr(31) || zip_key("Postal Code") AS k,
           "Job Title" AS Title, Industry, Employees,
           row_number() OVER () AS rn
    FROM read_csv('{d}/enriched_firmo.csv', all_varchar = true, header = true))
  WHERE k IS NOT NULL QUALIFY row_number() OVER (PARTITION BY k ORDER BY rn) = 1;

COPY (
  SELECT c.ID, c.First, c.Last, c.Email,
         coalesce(nullif(c.Phone, ''), p.Phone) AS Phone,
         c.Company,
         coalesce(nullif(c.Title, ''), f.Title) AS Title,
         c.City, c.State, c.Zip, c.Notes,
         e.Email_Verified, e.LinkedIn_URL, p.Phone_Type, p.Carrier,
         f.Industry, f.Employees
  FROM crm c
  LEFT JOIN ev e ON e.k = email_key(c.Email)
  LEFT JOIN pv p ON p.k = phone_key(c.Phone)
  LEFT JOIN fv f ON f.k = c.fk AND c.namesakes = 1
  ORDER BY c.rn
) TO '{out}' (HEADER, DELIMITER ',');
"""


def main(data_dir: str, out: str):
  con = duckdb.connect()
  con.execute(SQL.format(d=data_dir, out=out))


if __name__ == "__main__":
  main(*sys.argv[1:3])
