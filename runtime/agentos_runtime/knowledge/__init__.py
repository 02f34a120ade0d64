"""Knowledge: documents read, chunked, embedded, stored and searched by agents."""
