#!/usr/bin/env python3
"""Generates the demo directory export: users as CSV, groups as JSON Lines.

Deterministic (fixed seed), standard library only. The committed demo files are

    python3 pipelines/data/generate_demo.py --users 1000 --groups 50 --out pipelines/data

and the benchmark uses the same generator with --users 100000 (bench/file_to_sqlite/run.sh).

The data is Entra-shaped on purpose and carries the cases a real export has: names with commas
and quotes (quoted CSV fields), non-ASCII names, users without mail (matched by UPN instead),
mail in mixed case (matched ignoring case), disabled accounts, and nested groups.
"""
import argparse
import csv
import json
import os
import random
import uuid

GIVEN = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
         "Zoë", "José", "Chloé", "Björn", "Ngozi", "Haruki", "Priya", "Mateo", "Aoife", "Søren",
         "Fatima", "Kwame", "Mei", "Olga", "Rafael", "Ingrid", "Tariq", "Leila", "Noah", "Emma"]
SURNAMES = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
            "Allen", "Dijkstra", "O'Brien", "García", "Müller", "Okafor", "Tanaka", "Sharma", "Rossi",
            "Nguyen", "Kowalski", "Andersen", "Haddad", "Mensah", "Chen", "Ivanova", "Silva", "Berg",
            "Khan", "Moreau", "Smith", "de la Cruz"]
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations",
               "Legal", "Support", "Research", "Facilities"]
TITLES = {
    "Engineering": ["Software Engineer", "Senior Software Engineer", "Engineering Manager", "SRE"],
    "Sales": ["Account Executive", "Sales Manager", "Sales Engineer"],
    "Marketing": ["Marketing Specialist", "Content Writer", "Head of Marketing"],
    "Finance": ["Accountant", "Controller", "Financial Analyst"],
    "Human Resources": ["Recruiter", "HR Partner"],
    "Operations": ["Operations Analyst", "Logistics Coordinator"],
    "Legal": ["Counsel", "Paralegal"],
    "Support": ["Support Agent", "Support Lead"],
    "Research": ["Research Scientist", "Data Scientist"],
    "Facilities": ["Facilities Manager", "Office Coordinator"],
}
OFFICES = ["London", "Berlin", "Lagos", "Tokyo", "São Paulo", "Toronto", "Remote", "Paris, 9e"]
DOMAIN = "contoso.example"

USER_COLUMNS = ["id", "userPrincipalName", "mail", "givenName", "surname", "displayName", "department",
                "jobTitle", "accountEnabled", "employeeId", "officeLocation"]


def ascii_slug(text):
    table = str.maketrans("ëéèøöüíáãçñ", "eeeoouiaacn")
    return "".join(c for c in text.lower().translate(table) if c.isalnum())


def make_users(rng, count):
    users, upns = [], set()
    for i in range(count):
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        base = f"{ascii_slug(given)}.{ascii_slug(surname)}"
        upn, n = f"{base}@{DOMAIN}", 1
        while upn in upns:
            n += 1
            upn = f"{base}{n}@{DOMAIN}"
        upns.add(upn)
        department = rng.choice(DEPARTMENTS)
        roll = rng.random()
        # About 4% have no mailbox, 5% carry their mail in mixed case.
        mail = "" if roll < 0.04 else (upn.title() if roll < 0.09 else upn)
        display = f"{surname}, {given}" if rng.random() < 0.1 else f"{given} {surname}"
        if rng.random() < 0.01:
            display += ' "contractor"'
        users.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "userPrincipalName": upn,
            "mail": mail,
            "givenName": given,
            "surname": surname,
            "displayName": display,
            "department": department,
            "jobTitle": rng.choice(TITLES[department]),
            "accountEnabled": "false" if rng.random() < 0.05 else "true",
            "employeeId": f"E{100000 + i}",
            "officeLocation": "" if rng.random() < 0.03 else rng.choice(OFFICES),
        })
    return users


def make_groups(rng, count, users):
    groups = []
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
    for i in range(count):
        if i < len(DEPARTMENTS):
            name = DEPARTMENTS[i]
            members = [u["id"] for u in users if u["department"] == name]
        else:
            name = f"Project {i - len(DEPARTMENTS) + 1:02d}"
            members = [u["id"] for u in rng.sample(users, min(len(users), rng.randint(3, 40)))]
        # Every tenth group nests a later group, so nesting never forms a cycle.
        if i % 10 == 9 and i + 1 < count:
            members.append(ids[i + 1])
        groups.append({
            "id": ids[i],
            "displayName": name,
            "mail": f"{ascii_slug(name)}@{DOMAIN}" if rng.random() < 0.8 else None,
            "members": members,
        })
    return groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--prefix", default="demo")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    users = make_users(rng, args.users)
    groups = make_groups(rng, args.groups, users)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.prefix}-users.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=USER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(users)
    with open(os.path.join(args.out, f"{args.prefix}-groups.jsonl"), "w", encoding="utf-8") as f:
        for g in groups:
            f.write(json.dumps(g, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
