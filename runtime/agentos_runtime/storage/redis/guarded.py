"""Compare-and-set transactions on Redis: reads that leave a digest, writes applied only if the
same reads still give the same digests, both as server-side scripts.

A transaction reads through a ``Snapshot``: each read call runs the read script, which answers
the replies and a digest of them. The caller decides its writes in Python (every rule, such as
which index SETs change, stays here) and queues them on a ``WriteBatch``. The write script then
repeats every read, compares the digests, and applies the writes only when nothing read has
changed, in one atomic step; otherwise it writes nothing and the caller reads again. That is
the optimistic check ``WATCH`` gives, in two round trips instead of three and one command for
the writes instead of one per write. The scripts know only commands, never our layout.

A snapshot may be told what some reads are expected to answer (``expected``): those reads then
cost no round trip, their digest is computed here, and the write script checks the expectation
as it checks any read. A wrong expectation costs one refused write and a real read, never a
wrong write.

Before writing, the write script checks that every key it writes holds the kind of value the
command needs (or nothing), so a key of the wrong type refuses the whole write, never half of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

# Lua shared by both scripts. A command is four or more entries of ARGV: its name, the index of
# its key in KEYS, its argument count, its arguments. ``read_batch`` runs a counted list of read
# commands from ARGV[position] and answers where it stopped, the replies and their digest.
_PRELUDE = """
local READS = {GET = true, ZSCORE = true, ZRANGE = true}
local WRITES = {SET = 'string', DEL = 'any', ZADD = 'zset', ZREM = 'zset', SADD = 'set', SREM = 'set'}

local function canonical(reply)
  if type(reply) == 'table' then
    local parts = {}
    for index, item in ipairs(reply) do parts[index] = canonical(item) end
    return '[' .. #parts .. ';' .. table.concat(parts) .. ']'
  elseif reply == false then
    return '-'
  end
  local text = tostring(reply)
  return #text .. ':' .. text
end

local function command_at(position)
  local name = ARGV[position]
  local key = KEYS[tonumber(ARGV[position + 1])]
  local count = tonumber(ARGV[position + 2])
  return name, key, position + 3, position + 2 + count
end

local function read_batch(position)
  local count = tonumber(ARGV[position])
  position = position + 1
  local replies, parts = {}, {}
  for index = 1, count do
    local name, key, first, last = command_at(position)
    if not READS[name] then error('not a guarded read: ' .. tostring(name)) end
    local reply = redis.call(name, key, unpack(ARGV, first, last))
    replies[index] = reply
    parts[index] = canonical(reply)
    position = last + 1
  end
  return position, replies, redis.sha1hex(table.concat(parts))
end
"""

READ_SCRIPT = (
    _PRELUDE
    + """
local _, replies, digest = read_batch(1)
return {replies, digest}
"""
)

WRITE_SCRIPT = (
    _PRELUDE
    + """
local position = 2
for _ = 1, tonumber(ARGV[1]) do
  local next_position, _, digest = read_batch(position)
  if digest ~= ARGV[next_position] then return 0 end
  position = next_position + 1
end
local writes_start = position
while position <= #ARGV do
  local name, key, _, last = command_at(position)
  local kind = WRITES[name]
  if kind == nil then error('not a guarded write: ' .. tostring(name)) end
  if kind ~= 'any' then
    local held = redis.call('TYPE', key)['ok']
    if held ~= 'none' and held ~= kind then
      return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
    end
  end
  position = last + 1
end
position = writes_start
while position <= #ARGV do
  local name, key, first, last = command_at(position)
  redis.call(name, key, unpack(ARGV, first, last))
  position = last + 1
end
return 1
"""
)

Command = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Scripts:
    """The two scripts, registered on one client (loaded into Redis on first use)."""

    read: AsyncScript
    write: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> Scripts:
        return cls(read=client.register_script(READ_SCRIPT), write=client.register_script(WRITE_SCRIPT))


@dataclass
class _Encoder:
    """KEYS and ARGV of a script call: each key once, commands naming theirs by position."""

    keys: dict[str, int] = field(default_factory=dict)
    args: list[str | int] = field(default_factory=list)

    def add(self, commands: Sequence[Command]) -> None:
        for name, key, arguments in commands:
            position = self.keys.setdefault(key, len(self.keys) + 1)
            self.args.extend((name, position, len(arguments), *arguments))


def canonical(reply: Any) -> str:
    """A reply as the scripts' ``canonical`` writes it (lengths in UTF-8 bytes, as Lua counts)."""
    if isinstance(reply, list | tuple):
        return f"[{len(reply)};" + "".join(canonical(item) for item in reply) + "]"
    if reply is None:
        return "-"
    text = str(reply)
    return f"{len(text.encode())}:{text}"


def digest_of(replies: Sequence[Any]) -> str:
    """The digest the scripts give ``replies`` of a batch of reads."""
    return hashlib.sha1("".join(canonical(reply) for reply in replies).encode()).hexdigest()


@dataclass
class Snapshot:
    """The reads of one transaction attempt, with the digests the writes are checked against.

    Its methods answer as redis-py's client does (``decode_responses``), so helpers that read
    through a client read through a snapshot too. ``expected``: replies assumed for some reads
    (a batch whose every read is there is answered from it, no round trip); the write checks
    them like any other read.
    """

    scripts: Scripts
    expected: Mapping[Command, Any] = field(default_factory=dict)
    guards: list[tuple[list[Command], str]] = field(default_factory=list)

    async def read(self, commands: Sequence[Command]) -> list[Any]:
        """The raw replies of ``commands`` (read together, in one round trip, unless expected)."""
        if not commands:
            return []
        if self.expected and all(command in self.expected for command in commands):
            replies = [self.expected[command] for command in commands]
            self.guards.append((list(commands), digest_of(replies)))
            return replies
        encoder = _Encoder()
        encoder.args.append(len(commands))
        encoder.add(commands)
        replies, answered = await self.scripts.read(keys=list(encoder.keys), args=encoder.args)
        self.guards.append((list(commands), str(answered)))
        return list(replies)

    async def get(self, key: str) -> str | None:
        return str_or_none((await self.read([("GET", key, ())]))[0])

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        return [str_or_none(reply) for reply in await self.read([("GET", key, ()) for key in keys])]

    async def zrange(self, key: str, start: int, end: int) -> list[str]:
        return [str(member) for member in (await self.read([("ZRANGE", key, (str(start), str(end)))]))[0]]


@dataclass
class WriteBatch:
    """The writes of one transaction, queued as data (named as redis-py's pipeline names them)."""

    commands: list[Command] = field(default_factory=list)

    def set(self, key: str, value: str) -> None:
        self.commands.append(("SET", key, (value,)))

    def delete(self, key: str) -> None:
        self.commands.append(("DEL", key, ()))

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        for member, score in mapping.items():
            self.commands.append(("ZADD", key, (repr(float(score)), member)))

    def zrem(self, key: str, member: str) -> None:
        self.commands.append(("ZREM", key, (member,)))

    def sadd(self, key: str, member: str) -> None:
        self.commands.append(("SADD", key, (member,)))

    def srem(self, key: str, member: str) -> None:
        self.commands.append(("SREM", key, (member,)))


async def apply(scripts: Scripts, snapshot: Snapshot, writes: WriteBatch) -> bool:
    """Apply ``writes`` if every read of ``snapshot`` still answers the same; whether it did."""
    encoder = _Encoder()
    encoder.args.append(len(snapshot.guards))
    for commands, digest in snapshot.guards:
        encoder.args.append(len(commands))
        encoder.add(commands)
        encoder.args.append(digest)
    encoder.add(writes.commands)
    return bool(await scripts.write(keys=list(encoder.keys), args=encoder.args))


def str_or_none(reply: Any) -> str | None:
    return None if reply is None else str(reply)
