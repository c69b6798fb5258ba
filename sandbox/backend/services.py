"""Services: the shop's business rules, with no HTTP in sight.

A service takes plain values and an Identity, applies the rules (who may do what, what must
be true before a write), calls repositories, and returns plain dicts. It raises ApiError
subclasses for rule violations; the controller turns those into responses. Because nothing
here knows about requests, the rules can be tested without a web server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sandbox import tracing
from sandbox.backend.context import AppContext
from sandbox.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InsufficientScope,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from sandbox.mechanisms.auth import (
    HashPolicy,
    Identity,
    make_hash,
    needs_rehash,
    parse_user_id,
    policy_params,
    stored_params,
    verify_password,
)
from sandbox.mechanisms.cache import WriteBehind
from sandbox.mechanisms.queue import JobFailed
from sandbox.mechanisms.redis_store import CacheUnavailable
from sandbox.mechanisms.resilience import DependencyFailed
from sandbox.turns import take_turn

SERVICE_CPU_MS = 0.02
EMAIL_MS = 30.0  # a call to an outside e-mail provider
MAX_ITEMS_PER_ORDER = 20


def require_user(identity: Identity | None) -> Identity:
    """401 when nobody has authenticated: the caller must say who they are first."""
    if identity is None:
        raise Unauthorized("Log in first: this needs an access token or an API key.")
    return identity


def require_scope(identity: Identity | None, scope: str) -> None:
    """403 insufficient_scope when a client's token was not granted `scope`. A user's token
    carries no scopes: what a user may do is decided by their role, in the services."""
    if identity is not None and identity.scopes is not None and scope not in identity.scopes:
        raise InsufficientScope(scope, identity.scopes)


def require_person(identity: Identity | None, what: str) -> None:
    """403 when a client's token is used on a route that acts as a person (no scope opens it)."""
    if identity is not None and identity.scopes is not None:
        raise Forbidden(f"{what} needs a user's access token; a client's token cannot do it.",
                        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


def hash_policy(ctx: AppContext) -> HashPolicy:
    """How new password hashes are made, from `auth.*`."""
    auth = ctx.settings.auth
    return HashPolicy(auth.hash, auth.hash_iterations, auth.bcrypt_cost, auth.argon2_time_cost,
                      auth.argon2_memory_kib)


def require_self_or_admin(identity: Identity | None, user_id: int) -> Identity:
    """403 when a known caller asks for someone else's data without being an admin."""
    who = require_user(identity)
    if who.user_id != user_id and who.role != "admin":
        raise Forbidden("You may only see your own orders.")
    return who


REVIEW_PAGE = 20  # reviews kept per cached page


def looks_like_email(email: str) -> bool:
    """One @, something before it, a dot after it, no spaces: enough to catch typos."""
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain.strip(".") and "@" not in domain
                and not any(c.isspace() for c in email))


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


def reviews_key(product_id: int) -> str:
    return f"reviews:{product_id}"


def page_key(category: str | None, limit: int, offset: int | None, after: int | None) -> str:
    """`products:books:offset=20:limit=20`: one cached entry per listing page."""
    start = f"after={after}" if after is not None else f"offset={offset or 0}"
    return f"products:{category or 'all'}:{start}:limit={limit}"


def after_commit(ctx: AppContext, step: str, action: Callable[[], object],
                 **fields: object) -> bool:
    """Run `action`, a step that follows a committed write; True if it worked.

    The write stands whatever happens here, so a failure is not the client's error: it is
    logged, counted as `<step>_failed` (a run's metrics show it), and the request goes on.
    """
    try:
        action()
    except Exception as exc:  # anything at all: the commit cannot be taken back
        tracing.count(f"{step}_failed")
        ctx.log_event("warning", f"{step} failed after a committed write", error=repr(exc),
                      **fields)
        return False
    return True


def cache_written(ctx: AppContext, key: str, load: Callable[[], dict[str, Any] | None]) -> None:
    """Tell the cache that the row behind `key` changed; the database write has committed.
    If the cache cannot drop its copy, it serves the old row until the TTL ends: counted as
    `cache.invalidation_failed`, never a failed request."""
    after_commit(ctx, "cache.invalidation", lambda: ctx.cache.written(key, load), key=key)


def email_key(order_id: int) -> str:
    """The idempotency key of an order's confirmation e-mail: the provider sends one per key."""
    return f"order-confirmation-{order_id}"


def send_confirmation(ctx: AppContext, order_id: int) -> None:
    """Ask the e-mail provider to send order `order_id`'s confirmation. Raises
    DependencyFailed when the call fails (nothing was sent)."""
    key = email_key(order_id)
    if ctx.email is None:
        tracing.work(EMAIL_MS)
        ctx.mailer.send(key)
        return
    # Safe to repeat (idempotent, the default): the provider sends one e-mail per key.
    ctx.email.call(lambda: ctx.mailer.send(key))


def present_product(row: dict[str, Any]) -> dict[str, Any]:
    """A product as clients see it: the stored rating totals become count and average."""
    product = row.copy()
    count = product.pop("rating_count")
    total = product.pop("rating_sum")
    product["rating"] = {"count": count, "average": round(total / count, 2) if count else None}
    return product


class AccountService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def register(self, email: str, name: str, password: str) -> dict[str, Any]:
        with tracing.span("service.accounts.register", "service"):
            tracing.work(SERVICE_CPU_MS)
            email = email.strip().lower()
            if not looks_like_email(email):
                raise ValidationFailed("Some fields are not valid.",
                                       details=[FieldError("email", "must be an e-mail address")])
            repos = self.ctx.repos
            if repos.users.by_email(email) is not None:
                raise Conflict("An account with this e-mail already exists.")
            stored = self._hash(password, hash_policy(self.ctx))
            user_id = repos.users.add(email, name, stored, "customer", int(self.ctx.now_s()))
            return {"id": user_id, "email": email, "name": name, "role": "customer"}

    def login(self, email: str, password: str, address: str = "") -> dict[str, Any]:
        with tracing.span("service.accounts.login", "service") as span:
            tracing.work(SERVICE_CPU_MS)
            email = email.strip().lower()
            self._limit_login(address, email, span)
            repos = self.ctx.repos
            user = repos.users.by_email(email)
            stored = user["password_hash"] if user else ""
            policy = hash_policy(self.ctx)
            # Pay for a hash even when the user does not exist, so timing does not reveal
            # which e-mails have accounts. The cost is the stored hash's own (its algorithm
            # and work factor). A refusal never costs less than the policy's hash: while old,
            # cheaper hashes wait for their owners' next login, a quick "wrong password"
            # would tell an attacker that the account exists (a server pads with a dummy hash).
            params = stored_params(stored) or policy_params(policy)
            with tracing.span("auth.verify_password", "service") as hspan:
                hspan.set("auth.hash", params.algorithm)
                if params.algorithm == "pbkdf2":
                    hspan.set("auth.hash_iterations", params.work[0])
                ok = verify_password(password, stored) if user else False
                cost = params.cost_ms()
                tracing.work(cost if ok else max(cost, policy_params(policy).cost_ms()))
            if not user or not ok:
                span.set("auth.result", "denied")
                tracing.count("auth.login_failed")
                raise Unauthorized("Wrong e-mail or password.")
            if needs_rehash(stored, policy):
                # The stored hash is weaker than today's policy (another algorithm, or less
                # work): upgrade it while we know the password.
                repos.users.set_password_hash(user["id"], self._hash(password, policy))
            ttl = self.ctx.settings.auth.token_ttl_s
            token = self.ctx.tokens.issue(user["id"], user["role"], self.ctx.now_s(), ttl)
            span.set("auth.result", "ok")
            return {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                    "user_id": user["id"]}

    def _limit_login(self, address: str, email: str, span: tracing.Span) -> None:
        """429 when this address or account is out of login attempts (`auth.login_limit`),
        checked before the slow hash so a refused guess costs the server next to nothing.
        If Redis is down the check fails open, as the gateway's limiter does."""
        limiter = self.ctx.login_limiter
        if limiter is None:
            return
        try:
            decision = limiter.check(address, email, self.ctx.clock.now_ms)
        except CacheUnavailable:
            span.set("auth.login_limit", "unavailable: failing open")
            return
        if not decision.allowed:
            span.set("auth.result", "limited")
            tracing.count("auth.login_limited")
            window = self.ctx.settings.auth.login_limit_window_s
            whose = "from this address" if limiter.per == "per_ip" else "for this account"
            raise TooManyRequests(
                f"Too many login attempts {whose}: {decision.limit} per {window:g} s. Retry after "
                f"{decision.headers()['Retry-After']} s.", headers=decision.headers())

    def _hash(self, password: str, policy: HashPolicy) -> str:
        params = policy_params(policy)
        with tracing.span("auth.hash_password", "service") as span:
            span.set("auth.hash", params.algorithm)
            if params.algorithm == "pbkdf2":
                span.set("auth.hash_iterations", params.work[0])
            tracing.work(params.cost_ms())
            return make_hash(password, self.ctx.rng.randbytes(8), policy)

    def identify(self, authorization: str | None, api_key: str | None,
                 user_header: str | None) -> Identity | None:
        """Who is calling, by the configured auth mode; None for an anonymous caller."""
        mode = self.ctx.settings.auth.mode
        with tracing.span("auth.identify", "service") as span:
            span.set("auth.mode", mode)
            if mode == "jwt":
                if not authorization:
                    return None
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
                claimed = self.ctx.tokens.verify(token.strip(), self.ctx.now_s(),
                                                 self.ctx.settings.auth.token_ttl_s)
                if claimed.scopes is not None:
                    # A client's token is trusted on its signature and expiry alone, as most
                    # APIs trust a JWT: no lookup per request. So a revoked client's token
                    # works until it expires, unless the gateway checks the revocation list
                    # (`auth.revocation_check`).
                    span.set("auth.client_id", claimed.client_id)
                    return claimed
                # A valid signature says who the token was issued to, not who they are now:
                # a deleted user's token must stop working, and a role taken away must go.
                user = self.ctx.repos.users.by_id(claimed.user_id)
                if user is None:
                    raise Unauthorized("The account behind this access token no longer exists.")
                return Identity(claimed.user_id, user["role"], "jwt")
            if mode == "api_key":
                if not api_key:
                    return None
                owner = self.ctx.repos.api_keys.owner(api_key)
                if owner is None:
                    raise Unauthorized("The API key is not valid.")
                user = self.ctx.repos.users.by_id(owner)
                if user is None:  # the key outlived its account
                    raise Unauthorized("The account behind this API key no longer exists.")
                return Identity(owner, user["role"], "api_key")
            # Auth off: the caller's word is taken. This is the hole the security lesson shows.
            user_id = parse_user_id(user_header) if user_header else 2
            if user_id is None:
                return None
            user = self.ctx.repos.users.by_id(user_id)
            return Identity(user_id, user["role"], "header") if user else None


class CatalogService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def product(self, product_id: int) -> dict[str, Any]:
        with tracing.span("service.catalog.product", "service"):
            tracing.work(SERVICE_CPU_MS)
            product = self.ctx.cache.read(product_key(product_id), self._loader(product_id))
            if product is None:
                raise NotFound(f"There is no product {product_id}.")
            return product

    def _loader(self, product_id: int) -> Callable[[], dict[str, Any] | None]:
        def load() -> dict[str, Any] | None:
            row = self.ctx.reads.products.by_id(product_id)
            return present_product(row) if row is not None else None

        return load

    def products(self, category: str | None, limit: int, offset: int | None,
                 after: int | None) -> dict[str, Any]:
        """A page of the catalogue, cached as one entry tagged with each product on it: an
        order or review of any of them drops the page (see mechanisms/cache.py)."""
        with tracing.span("service.catalog.products", "service") as span:
            tracing.work(SERVICE_CPU_MS)
            span.set("pagination", "keyset" if after is not None else "offset")

            def load() -> dict[str, Any]:
                repo = self.ctx.reads.products
                if after is not None:
                    items = repo.page_after(category, limit, after)
                else:
                    items = repo.page_offset(category, limit, offset or 0)
                next_after = items[-1]["id"] if len(items) == limit else None
                return {"items": [present_product(p) for p in items], "next_after": next_after}

            def tags(page: dict[str, Any]) -> list[str]:
                return [product_key(p["id"]) for p in page["items"]]

            page = self.ctx.cache.read(page_key(category, limit, offset, after), load, tags)
            assert page is not None
            return page

    def reviews(self, product_id: int, limit: int) -> dict[str, Any]:
        """The newest reviews; the newest REVIEW_PAGE are cached as one entry per product."""
        with tracing.span("service.catalog.reviews", "service"):
            tracing.work(SERVICE_CPU_MS)
            if limit > REVIEW_PAGE:
                self.product(product_id)  # 404 for a missing product
                return {"items": self.ctx.reads.reviews.for_product(product_id, limit)}

            def load() -> dict[str, Any]:
                self.product(product_id)  # only on a miss: a cached page proves it exists
                return {"items": self.ctx.reads.reviews.for_product(product_id, REVIEW_PAGE)}

            page = self.ctx.cache.read(reviews_key(product_id), load)
            assert page is not None
            return {"items": page["items"][:limit]}

    def products_by_id(self, product_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Several products at once, by id, in one query; missing ids are left out."""
        with tracing.span("service.catalog.products_by_id", "service"):
            tracing.work(SERVICE_CPU_MS)
            rows = self.ctx.reads.products.by_ids(product_ids)
            return {row["id"]: present_product(row) for row in rows}

    def reviews_of(self, product_ids: list[int], limit: int) -> dict[int, list[dict[str, Any]]]:
        """The newest `limit` reviews of each product, in one query. The products are known
        to exist (the caller has them), so nothing is checked one by one."""
        with tracing.span("service.catalog.reviews_of", "service"):
            tracing.work(SERVICE_CPU_MS)
            found: dict[int, list[dict[str, Any]]] = {pid: [] for pid in product_ids}
            for review in self.ctx.reads.reviews.for_products(product_ids, limit):
                found[review["product_id"]].append(review)
            return found

    def add_review(self, identity: Identity | None, product_id: int, rating: int,
                   body: str) -> dict[str, Any]:
        with tracing.span("service.catalog.add_review", "service"):
            tracing.work(SERVICE_CPU_MS)
            who = require_user(identity)
            self.product(product_id)  # 404 for a missing product; a cached copy proves it exists
            return self.save_review(who.user_id, product_id, rating, body)

    def save_review(self, user_id: int, product_id: int, rating: int, body: str) -> dict[str, Any]:
        """Store a review whose rules were checked; keep the product's rating totals and the
        cached copies in step. (A student's review service stores through this too: see
        sandbox/plugs/reviews.py.)"""
        now = int(self.ctx.now_s())
        repos = self.ctx.repos
        trace = tracing.current_trace.get()
        counts = trace.counts if trace is not None else {}
        before = counts.get("db.queries", 0), counts.get("db.rows_scanned", 0)
        with repos.transaction():
            review_id = repos.reviews.add(product_id, user_id, rating, body, now)
            if self.ctx.settings.db.rating == "stored":  # keep the product's totals in step
                repos.products.add_rating(product_id, rating)
        # What one review costs the database to write: the price of a stored rating.
        counts["rating.reviews_written"] = counts.get("rating.reviews_written", 0) + 1
        counts["rating.review_statements"] = (counts.get("rating.review_statements", 0)
                                              + counts.get("db.queries", 0) - before[0])
        counts["rating.review_rows"] = (counts.get("rating.review_rows", 0)
                                        + counts.get("db.rows_scanned", 0) - before[1])
        cache_written(self.ctx, product_key(product_id), self._loader(product_id))
        cache_written(
            self.ctx, reviews_key(product_id),
            lambda: {"items": repos.reviews.for_product(product_id, REVIEW_PAGE)},
        )
        return {"id": review_id, "product_id": product_id, "user_id": user_id,
                "rating": rating, "body": body, "created_at": now}

    def update_product(self, identity: Identity | None, product_id: int,
                       fields: dict[str, Any]) -> dict[str, Any]:
        with tracing.span("service.catalog.update_product", "service"):
            tracing.work(SERVICE_CPU_MS)
            who = require_user(identity)
            if who.role != "admin":
                raise Forbidden("Only an admin may change products.")
            cache, repo, now = self.ctx.cache, self.ctx.repos.products, int(self.ctx.now_s())
            key = product_key(product_id)
            if isinstance(cache, WriteBehind):
                current = self.product(product_id)
                changed = {**current, **fields, "updated_at": now}

                def write_db(row: dict[str, Any]) -> None:
                    # The row as the cache held it until now, not as this request saw it.
                    repo.update(product_id, {name: row[name] for name in fields},
                                row["updated_at"])

                cache.defer(key, changed, write_db)
                return changed
            if not repo.update(product_id, fields, now):
                raise NotFound(f"There is no product {product_id}.")
            cache_written(self.ctx, key, self._loader(product_id))
            return self.product(product_id)


class OrderService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def place(self, identity: Identity | None, items: list[dict[str, int]],
                    idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Place an order once, however often the same request is retried.

        With an idempotency key, the first request places the order and its response is
        remembered under (user, key); a retry with the same key and body gets that response
        back (the second value is True: replayed) instead of a second order. Reusing a key for
        a different order is refused: the client has a bug.

        The key is remembered in the order's own transaction: both commit, or neither. Saved
        after the commit, a failure in between (the cache, the queue, the process) would answer
        an error for an order that exists, and the client's retry would place it again.
        """
        with tracing.span("service.orders.place", "service") as span:
            tracing.work(SERVICE_CPU_MS)
            who = require_user(identity)
            if idempotency_key is None:
                return await self._place(who, items), False
            store = self.ctx.seams.idempotency
            if store is not None:  # a student's store (sandbox/plugs/idempotency.py)
                replayed = store.replay(who.user_id, idempotency_key, items)
                if replayed is not None:
                    span.set("idempotency", "replayed")
                    return self._replay(replayed), True

                def remember_with(order: dict[str, Any]) -> None:
                    store.remember(who.user_id, idempotency_key, items, order)

                return await self._place(who, items, remember_with), False
            key = f"{who.user_id}:{idempotency_key}"
            fingerprint = orjson.dumps(sorted((i["product_id"], i["quantity"]) for i in items))
            remembered = self.ctx.repos.idempotency.get(key)
            if remembered is not None:
                stored = orjson.loads(remembered[1])
                if stored["request"] != fingerprint.decode():
                    raise ValidationFailed(
                        "This Idempotency-Key was already used for a different order.",
                        details=[FieldError("Idempotency-Key", "use a new key for a new order")],
                    )
                span.set("idempotency", "replayed")
                return self._replay(stored["response"]), True

            def remember(order: dict[str, Any]) -> None:
                self.ctx.repos.idempotency.put(
                    key, who.user_id, 201,
                    orjson.dumps({"request": fingerprint.decode(), "response": order}).decode(),
                    int(self.ctx.now_s()),
                )

            return await self._place(who, items, remember), False

    def _replay(self, order: dict[str, Any]) -> dict[str, Any]:
        """A remembered order, to answer a retry. It was remembered as committed, before its
        confirmation happened, so the retry hears where the confirmation stands now."""
        confirmed = self.ctx.repos.confirmations.is_confirmed(order["id"])
        return {**order, "confirmation": "sent" if confirmed else "queued"}

    async def _place(self, who: Identity, items: list[dict[str, int]],
                     remember: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Check stock, take it and record the order, with its idempotency key (`remember`)
        and, in async mode, its follow-up job, in one transaction; then what follows a commit."""
        with tracing.span("service.orders.take", "service") as span:
            repos = self.ctx.repos
            wanted: dict[int, int] = {}
            for item in items:
                wanted[item["product_id"]] = wanted.get(item["product_id"], 0) + item["quantity"]
            lines: list[tuple[int, int, int]] = []
            # Other requests' statements reach the database while ours travel (a no-op unless
            # requests really run at once: see sandbox/turns.py).
            await take_turn()
            naive = self.ctx.settings.db.stock_update == "naive"
            seen: dict[int, tuple[int, int]] = {}
            taken: dict[int, int] | None = None  # a plugged stock taker's unit prices
            if self.ctx.seams.take_stock is not None:
                # A student's stock taker (exercise oversell-proof-stock): its statements run
                # one by one before the transaction, each a turn, and it gives back what it took
                # when a later line falls short.
                span.set("stock_update", "plugged")
                taken = await self.ctx.seams.take_stock(wanted)
                if taken is None:
                    self._read_stock(wanted)  # raises the 404 or 409 that explains it
                    raise Conflict("Too little stock left for this order.")
            elif naive:
                span.set("stock_update", "naive")
                seen = self._read_stock(wanted)
                # The race: between our read and our write, other orders read the same stock.
                # Each writes back "what I read, less mine", and the last write wins: units
                # are sold twice, and the stock column does not even show it.
                await take_turn()
            now = int(self.ctx.now_s())
            queued = self.ctx.settings.queue.mode == "async"
            with repos.transaction():
                for product_id, quantity in sorted(wanted.items()):
                    if taken is not None:
                        price = taken[product_id]
                    elif naive:
                        stock, price = seen[product_id]
                        repos.products.set_stock(product_id, stock - quantity)
                    else:
                        found = repos.products.take_stock(product_id, quantity)
                        if found is None:  # rare: only now find out why, for the message
                            left = repos.products.stock(product_id)
                            if left is None:
                                raise NotFound(f"There is no product {product_id}.")
                            raise Conflict(f"Only {left} of product {product_id} left in stock.")
                        price = found
                    lines.append((product_id, quantity, price))
                order_id = repos.orders.add(who.user_id, lines, now)
                order: dict[str, Any] = {
                    "id": order_id, "customer_id": who.user_id, "status": "paid",
                    "total_cents": sum(q * p for _, q, p in lines), "created_at": now,
                    "items": [{"order_id": order_id, "product_id": p, "quantity": q,
                               "price_cents": c} for p, q, c in lines],
                }
                if remember is not None:
                    remember(order)
                job = {"order_id": str(order_id),
                       "lines": orjson.dumps([[p, q] for p, q, _ in lines]).decode()}
                # The outbox: the job commits with the order, so no order is left without one.
                outbox_id = self._save_job(job) if queued else None
            # Committed: the order exists. Nothing below may turn that into an error.
            catalog = CatalogService(self.ctx)
            for product_id, _, _ in lines:  # their stock changed
                cache_written(self.ctx, product_key(product_id), catalog._loader(product_id))
            return {**order, "confirmation": self._follow_up(order_id, who.user_id, job,
                                                             outbox_id)}

    def _read_stock(self, wanted: dict[int, int]) -> dict[int, tuple[int, int]]:
        """`db.stock_update=naive`, step one: read each product's stock and price, and refuse
        the order if too little is left. Product id -> (stock read, unit price)."""
        seen: dict[int, tuple[int, int]] = {}
        for product_id, quantity in sorted(wanted.items()):
            found = self.ctx.repos.products.stock_and_price(product_id)
            if found is None:
                raise NotFound(f"There is no product {product_id}.")
            if found[0] < quantity:
                raise Conflict(f"Only {found[0]} of product {product_id} left in stock.")
            seen[product_id] = found
        return seen

    def _save_job(self, job: dict[str, str]) -> int:
        """Write a follow-up job to the outbox; its row id. (A `faults.poison_rate` share of
        jobs carry a poison mark.)"""
        if self.ctx.rng.random() < self.ctx.settings.faults.poison_rate:
            job["poison"] = "1"
        if self.ctx.seams.outbox is not None:
            return self.ctx.seams.outbox.add(job)
        return self.ctx.repos.outbox.add(int(job["order_id"]), orjson.dumps(job).decode())

    def _follow_up(self, order_id: int, customer_id: int, job: dict[str, str],
                   outbox_id: int | None) -> str:
        """Confirmation, e-mail and sales count: now (sync) or by a worker later (async, the
        job already in the outbox as `outbox_id`). The order has committed: failures here are
        logged and counted, never the client's error.

        Returns "sent", or "queued" when a worker will do it (async mode, or because the
        e-mail provider failed: the order stands, the e-mail goes out later).
        """
        ctx, events = self.ctx, self.ctx.events
        if events is not None:  # fire and forget: pub/sub keeps nothing for later anyway
            after_commit(ctx, "events.publish",
                         lambda: events.publish(order_id, customer_id), order_id=order_id)
        if outbox_id is not None:
            self._relay(outbox_id, job)
            return "queued"
        try:
            # Inside the request: the customer waits for the e-mail provider.
            send_confirmation(ctx, order_id)
        except DependencyFailed:
            tracing.count("email.deferred")  # graceful degradation: sell now, e-mail later
            after_commit(ctx, "outbox.add", lambda: self._relay(self._save_job(job), job),
                         order_id=order_id)
            return "queued"
        after_commit(ctx, "orders.confirm",
                     lambda: self.confirm(f"sync-{order_id}", job, email_sent=True),
                     order_id=order_id)
        return "sent"

    def _relay(self, outbox_id: int, job: dict[str, str]) -> None:
        """Hand an outbox row's job to the queue, then mark the row. If the queue cannot take
        it (Redis is down), the row waits and the sandbox's background relay tries again
        (`relay_outbox`). Dying between the two would publish the job twice: a redelivery,
        which the consumer already takes in its stride."""
        jobs = self.ctx.jobs
        plugged = self.ctx.seams.outbox
        if plugged is not None:  # a student's relay: it publishes whatever is waiting
            if not after_commit(self.ctx, "queue.publish", plugged.relay,
                                order_id=job["order_id"]):
                self.ctx.outbox_behind = True
            return

        def publish() -> None:
            if jobs is None:
                raise CacheUnavailable("no queue to publish to")
            with tracing.span("queue.publish", "queue") as span:
                span.set("queue.job_id", jobs.publish(job))
            self.ctx.repos.outbox.mark_published(outbox_id)

        if not after_commit(self.ctx, "queue.publish", publish, order_id=job["order_id"]):
            self.ctx.outbox_behind = True

    def relay_outbox(self) -> None:
        """Publish the jobs still waiting in the outbox, oldest first (the background relay).
        Stops at the first failure, to try again on a later pass."""
        ctx = self.ctx
        if not ctx.outbox_behind or ctx.jobs is None:
            return
        if ctx.seams.outbox is not None:
            # A background pass of a plugged relay: whatever stops it is logged, never raised.
            if after_commit(ctx, "outbox.relay", ctx.seams.outbox.relay):
                ctx.outbox_behind = False
            return
        try:
            for outbox_id, job in ctx.repos.outbox.unpublished():
                ctx.jobs.publish(orjson.loads(job))
                ctx.repos.outbox.mark_published(outbox_id)
        except (CacheUnavailable, ServiceUnavailable):
            return  # Redis or the database is still down
        ctx.outbox_behind = False

    def confirm(self, job_id: str, job: dict[str, str], email_sent: bool = False) -> bool:
        """The order-confirmation job. Idempotent: a second delivery changes nothing, and
        e-mails nobody.

        Returns True when it did the work, False when the order was already confirmed.
        Raises JobFailed for a job that cannot succeed (a poison message, a failing provider).
        """
        order_id = int(job["order_id"])
        repos = self.ctx.repos
        if not email_sent and repos.confirmations.is_confirmed(order_id):
            return False  # a redelivery: the work is done, only the acknowledgement was lost
        if job.get("poison") == "1":
            raise JobFailed("the e-mail provider permanently rejects this address")
        if not email_sent:
            try:
                # Keyed by order: should this worker die before the commit below, the next
                # delivery's e-mail is one the provider has already sent, and it sends nothing.
                send_confirmation(self.ctx, order_id)
            except DependencyFailed as exc:
                raise JobFailed(str(exc)) from None
        with repos.transaction():
            # The check and the effect commit together: a crash between them cannot leave
            # one without the other.
            if not repos.confirmations.confirm(order_id, job_id, int(self.ctx.now_s())):
                return False
            repos.confirmations.count_sales([(p, q) for p, q in orjson.loads(job["lines"])])
        return True

    def order(self, identity: Identity | None, order_id: int) -> dict[str, Any]:
        with tracing.span("service.orders.order", "service"):
            tracing.work(SERVICE_CPU_MS)
            who = require_user(identity)
            order = self.ctx.repos.orders.by_id(order_id)
            if order is None:
                raise NotFound(f"There is no order {order_id}.")
            require_self_or_admin(who, order["customer_id"])
            order["items"] = self.ctx.repos.orders.items(order_id, order["customer_id"])
            return order

    def history(self, identity: Identity | None, user_id: int, limit: int) -> dict[str, Any]:
        """A customer's newest orders with their lines: a join, or N+1 queries if switched."""
        with tracing.span("service.orders.history", "service") as span:
            tracing.work(SERVICE_CPU_MS)
            require_self_or_admin(identity, user_id)
            repo = self.ctx.reads.orders
            if self.ctx.settings.db.n_plus_one:
                span.set("db.strategy", "n_plus_one")
                orders = repo.by_customer(user_id, limit)
                for order in orders:
                    order["items"] = repo.items(order["id"], user_id)
            else:
                span.set("db.strategy", "join")
                orders = repo.with_items_by_customer(user_id, limit)
            return {"user_id": user_id, "orders": orders}


class Services:
    """Every service over one context."""

    def __init__(self, ctx: AppContext) -> None:
        self.accounts = AccountService(ctx)
        self.catalog = CatalogService(ctx)
        self.orders = OrderService(ctx)
