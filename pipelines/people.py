"""The staff directory pipelines refer to: reviewers, approvers, hiring managers and contacts, and the
reviewer pools. Edited by HR ops like the pipelines; workflows only ever carry the ids."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class Pool:
    name: str
    members: tuple[str, ...]  # Person ids


PEOPLE: dict[str, Person] = {
    p.id: p
    for p in (
        Person("sam", "Sam Okafor", "sam.okafor@example.org"),
        Person("ana", "Ana Lima", "ana.lima@example.org"),
        Person("kai", "Kai Nakamura", "kai.nakamura@example.org"),
        Person("ruth", "Ruth Mensah", "ruth.mensah@example.org"),
        Person("lee", "Lee Park", "lee.park@example.org"),
        Person("noor", "Noor Haddad", "noor.haddad@example.org"),
        Person("jo", "Jo Brennan", "jo.brennan@example.org"),
    )
}

POOLS: dict[str, Pool] = {
    p.name: p
    for p in (
        Pool("default", ("sam",)),
        Pool("support", ("ana", "lee", "jo")),
        Pool("eng", ("kai", "ruth", "lee", "noor")),
        Pool("early-careers", ("ana", "jo")),
    )
}
