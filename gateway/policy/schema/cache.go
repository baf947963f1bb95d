package schema

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compiled is one schema compiled (or the reason it could not be).
type compiled struct {
	once sync.Once
	sch  *jsonschema.Schema
	err  error
}

type cacheKey struct {
	route string
	hash  [sha256.Size]byte
}

// schemaCache holds compiled schemas keyed by route and schema hash, least
// recently used first out.
type schemaCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of cacheKey, most recent first
	items map[cacheKey]*cacheItem
}

type cacheItem struct {
	c   *compiled
	pos *list.Element
}

func newSchemaCache(max int) *schemaCache {
	return &schemaCache{max: max, order: list.New(), items: make(map[cacheKey]*cacheItem)}
}

// get returns the entry for k, creating it (not yet compiled) if needed.
// Callers compile through the entry's once, so concurrent first calls of
// one schema compile it once.
func (c *schemaCache) get(k cacheKey) *compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.items[k]; ok {
		c.order.MoveToFront(it.pos)
		return it.c
	}
	if len(c.items) >= c.max {
		last := c.order.Back()
		delete(c.items, last.Value.(cacheKey))
		c.order.Remove(last)
	}
	it := &cacheItem{c: &compiled{}, pos: c.order.PushFront(k)}
	c.items[k] = it
	return it.c
}

func (c *schemaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
