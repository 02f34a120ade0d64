"""User memories: durable facts about a user, kept across sessions.

``hooks.user_memory_for(config, ...)`` gives the ``UserMemory`` an agent runs with (``None``
when memories are off): before a run it reads the user's memories into the system message
(Agno's ``<memories_from_previous_interactions>`` block) and, with agentic memory, adds the
``update_user_memory`` tool; after a completed run it extracts new facts from what the user
said, in the background, with a memory-manager model call (``managing``) whose tools write
through ``MemoryStore.upsert_memory`` (``tools``).
"""
