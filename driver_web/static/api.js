// The app's only way to the server: GraphQL over HTTP (POST /graphql) and subscriptions
// over graphql-transport-ws (ws(s)://.../graphql). Tokens live in localStorage; the last
// answer to each query is kept too, so screens show last-known data when offline.

const AUTH_KEY = "ladeflyt.auth";
const CACHE_PREFIX = "ladeflyt.data.";

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.unauthenticated = errors.some((e) => e.extensions && e.extensions.code === "UNAUTHENTICATED");
  }
}

export class Offline extends Error {}

const listeners = new Set();

export function onAuthChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function auth() {
  try {
    return JSON.parse(localStorage.getItem(AUTH_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveAuth(signedIn) {
  if (signedIn) {
    localStorage.setItem(
      AUTH_KEY,
      JSON.stringify({
        accessToken: signedIn.accessToken,
        refreshToken: signedIn.refreshToken,
        expiresAt: signedIn.accessTokenExpiresAt,
      }),
    );
  } else {
    localStorage.removeItem(AUTH_KEY);
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith(CACHE_PREFIX)) localStorage.removeItem(key);
    }
  }
  listeners.forEach((listener) => listener(auth()));
}

async function post(query, variables, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables: variables || {} }),
    });
  } catch (error) {
    throw new Offline(String(error));
  }
  if (!response.ok && response.status >= 500) throw new Offline(`HTTP ${response.status}`);
  const body = await response.json();
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

const REFRESH = `mutation($t: String!) { refreshSession(refreshToken: $t) {
  __typename ... on SignedIn { accessToken refreshToken accessTokenExpiresAt } } }`;

let refreshing = null;

// A new access token from the refresh token (once, however many requests ask at once).
async function refreshed() {
  const current = auth();
  if (!current) return null;
  refreshing =
    refreshing ||
    post(REFRESH, { t: current.refreshToken })
      .then((data) => {
        const result = data.refreshSession;
        if (result.__typename !== "SignedIn") {
          saveAuth(null);
          return null;
        }
        saveAuth(result);
        return result.accessToken;
      })
      .finally(() => {
        refreshing = null;
      });
  return refreshing;
}

function expiresSoon(current) {
  return current && current.expiresAt && Date.parse(current.expiresAt) - Date.now() < 30_000;
}

export async function accessToken() {
  const current = auth();
  if (expiresSoon(current)) return refreshed();
  return current ? current.accessToken : null;
}

// Run a query or mutation as the signed-in driver (refreshing the token once if needed).
export async function gql(query, variables) {
  const token = await accessToken();
  try {
    return await post(query, variables, token);
  } catch (error) {
    if (error instanceof GraphQLError && error.unauthenticated && token) {
      const again = await refreshed();
      if (again) return post(query, variables, again);
    }
    throw error;
  }
}

// A query whose answer is kept: offline, the last answer comes back with `stale: true`.
export async function cachedQuery(key, query, variables) {
  const storeKey = CACHE_PREFIX + key;
  try {
    const data = await gql(query, variables);
    try {
      localStorage.setItem(storeKey, JSON.stringify({ at: new Date().toISOString(), data }));
    } catch {
      // storage full: the answer is still good
    }
    return { data, stale: false };
  } catch (error) {
    if (error instanceof Offline) {
      const kept = localStorage.getItem(storeKey);
      if (kept) {
        const { at, data } = JSON.parse(kept);
        return { data, stale: true, at };
      }
    }
    throw error;
  }
}

export function lastKnown(key) {
  const kept = localStorage.getItem(CACHE_PREFIX + key);
  return kept ? JSON.parse(kept).data : null;
}

// ------------------------------------------------------------------ subscriptions

// One graphql-transport-ws connection shared by every subscription on the screen; it
// reconnects (with the current token) and resubscribes after a drop.
class Subscriptions {
  constructor() {
    this.socket = null;
    this.acked = false;
    this.nextId = 1;
    this.active = new Map(); // id -> {query, variables, sink}
    this.retry = 500;
  }

  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.active.set(id, { query, variables, sink });
    if (this.acked) this.send(id);
    else this.connect();
    return () => {
      if (!this.active.has(id)) return;
      this.active.delete(id);
      if (this.acked && this.socket) this.socket.send(JSON.stringify({ id, type: "complete" }));
      if (!this.active.size) this.close();
    };
  }

  send(id) {
    const { query, variables } = this.active.get(id);
    this.socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
  }

  async connect() {
    if (this.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
    this.socket = socket;
    this.acked = false;
    const token = await accessToken();
    socket.onopen = () => {
      socket.send(
        JSON.stringify({
          type: "connection_init",
          payload: token ? { authorization: `Bearer ${token}` } : {},
        }),
      );
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        this.acked = true;
        this.retry = 500;
        for (const id of this.active.keys()) this.send(id);
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "next") {
        const sub = this.active.get(message.id);
        if (!sub) return;
        const { data, errors } = message.payload;
        if (errors && errors.length) sub.sink.error && sub.sink.error(new GraphQLError(errors));
        else sub.sink.next(data);
      } else if (message.type === "error") {
        const sub = this.active.get(message.id);
        this.active.delete(message.id);
        if (sub && sub.sink.error) sub.sink.error(new GraphQLError(message.payload));
      } else if (message.type === "complete") {
        const sub = this.active.get(message.id);
        this.active.delete(message.id);
        if (sub && sub.sink.complete) sub.sink.complete();
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.acked = false;
      if (this.active.size) {
        for (const { sink } of this.active.values()) sink.offline && sink.offline();
        setTimeout(() => this.connect(), this.retry);
        this.retry = Math.min(this.retry * 2, 15_000);
      }
    };
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(1000);
  }
}

export const subscriptions = new Subscriptions();

export function subscribe(query, variables, sink) {
  return subscriptions.subscribe(query, variables, sink);
}
