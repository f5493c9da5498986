// The credentials file's rules, without a server: where it is, how it is
// written (mode 600 in a 700 directory, atomically, keeping other servers),
// and what is refused.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import {
  CredentialsError,
  Slipway,
  SlipwayError,
  credentialsPath,
  forgetSession,
  readCredentials,
  saveSession,
  savedSession,
} from "../src/index.js";
import { json, scriptedFetch, tempDir } from "../test-helpers/fakes.js";

const LATER = new Date(Date.now() + 3600_000).toISOString();
const EARLIER = new Date(Date.now() - 1000).toISOString();

/** @param {string} file */
function mode(file) {
  return fs.statSync(file).mode & 0o777;
}

describe("where the credentials are", () => {
  test("under an absolute XDG_CONFIG_HOME", () => {
    assert.equal(
      credentialsPath({ XDG_CONFIG_HOME: "/x/config", HOME: "/home/u" }),
      "/x/config/slipway/credentials.json",
    );
  });

  test("under HOME/.config when XDG_CONFIG_HOME is unset, empty or relative", () => {
    for (const xdg of [undefined, "", "relative/config"]) {
      assert.equal(
        credentialsPath({ XDG_CONFIG_HOME: xdg, HOME: "/home/u" }),
        "/home/u/.config/slipway/credentials.json",
      );
    }
  });
});

describe("writing the credentials", () => {
  test("creates the directory 700 and the file 600, whatever the umask", () => {
    const file = path.join(tempDir(), "new", "slipway", "credentials.json");
    const umask = process.umask(0);
    try {
      saveSession("http://s.example/", { token: "t1", login: "alice", expires_at: LATER }, file);
    } finally {
      process.umask(umask);
    }
    assert.equal(mode(file), 0o600);
    assert.equal(mode(path.dirname(file)), 0o700);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), {
      servers: { "http://s.example": { token: "t1", login: "alice", expires_at: LATER } },
    });
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["credentials.json"], "no staged file left");
  });

  test("keeps the other servers' entries, and forgets only the one asked", () => {
    const file = path.join(tempDir(), "slipway", "credentials.json");
    saveSession("http://a.example", { token: "ta", login: "alice", expires_at: LATER }, file);
    saveSession("http://b.example", { token: "tb", login: "bob", expires_at: LATER }, file);
    saveSession("http://a.example/", { token: "ta2", login: "alice", expires_at: LATER }, file);
    assert.deepEqual(Object.keys(readCredentials(file).servers).sort(), [
      "http://a.example",
      "http://b.example",
    ]);
    assert.equal(savedSession("http://a.example", file)?.token, "ta2");
    forgetSession("http://a.example", file);
    assert.deepEqual(Object.keys(readCredentials(file).servers), ["http://b.example"]);
    assert.equal(mode(file), 0o600);
  });

  test("an expired entry counts as not signed in", () => {
    const file = path.join(tempDir(), "slipway", "credentials.json");
    saveSession("http://s.example", { token: "old", login: "alice", expires_at: EARLIER }, file);
    assert.equal(savedSession("http://s.example", file), undefined);
  });
});

describe("reading the credentials", () => {
  test("no file: not signed in", () => {
    const file = path.join(tempDir(), "slipway", "credentials.json");
    assert.equal(savedSession("http://s.example", file), undefined);
  });

  test("a file other users may read or write is refused, naming the path, the mode and the fix", () => {
    const file = path.join(tempDir(), "slipway", "credentials.json");
    saveSession("http://s.example", { token: "t", login: "alice", expires_at: LATER }, file);
    for (const [bits, shown] of [
      [0o640, "0640"],
      [0o604, "0604"],
      [0o660, "0660"],
      [0o602, "0602"],
    ]) {
      fs.chmodSync(file, /** @type {number} */ (bits));
      assert.throws(
        () => savedSession("http://s.example", file),
        (e) =>
          e instanceof CredentialsError &&
          e.message ===
            `${file} is open to other users (mode ${shown}): run chmod 600 ${file}` &&
          e.path === file,
      );
      // Nor is it written over: the same refusal.
      assert.throws(
        () => saveSession("http://t.example", { token: "u", login: "bob", expires_at: LATER }, file),
        CredentialsError,
      );
    }
    fs.chmodSync(file, 0o600);
    assert.equal(savedSession("http://s.example", file)?.token, "t");
  });

  test("a file that does not parse is an error naming it", () => {
    const file = path.join(tempDir(), "credentials.json");
    fs.writeFileSync(file, "{not json", { mode: 0o600 });
    assert.throws(
      () => savedSession("http://s.example", file),
      (e) => e instanceof CredentialsError && e.message.includes(file),
    );
    fs.writeFileSync(file, '{"servers": []}');
    assert.throws(
      () => readCredentials(file),
      (e) => e instanceof CredentialsError && e.message.includes(file),
    );
  });
});

describe("which server and token a client uses", () => {
  /** @param {() => Promise<void>} body */
  async function withEnvironment(/** @type {Record<string, string | undefined>} */ vars, body) {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    const restore = () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      await body();
    } finally {
      restore();
    }
  }

  const whoami = () =>
    scriptedFetch(() => json(200, { login: "x", subject: "x", level: "member", organizations: [] }));

  test("the argument, else SLIPWAY_TOKEN, else the session saved for the server", async () => {
    const config = tempDir();
    const file = path.join(config, "slipway", "credentials.json");
    saveSession("http://s.example", { token: "saved", login: "alice", expires_at: LATER }, file);
    await withEnvironment(
      { XDG_CONFIG_HOME: config, SLIPWAY_URL: "http://s.example/", SLIPWAY_TOKEN: undefined },
      async () => {
        const f = whoami();
        const fromFile = new Slipway({ fetch: f.fetch });
        assert.equal(fromFile.server, "http://s.example");
        await fromFile.whoami();
        assert.equal(f.sent[0].url.href, "http://s.example/v1/whoami");
        assert.equal(f.sent[0].authorization, "Bearer saved");

        process.env.SLIPWAY_TOKEN = "from-env";
        await new Slipway({ fetch: f.fetch }).whoami();
        assert.equal(f.sent[1].authorization, "Bearer from-env");

        await new Slipway({ token: "given", server: "http://other.example", fetch: f.fetch }).whoami();
        assert.equal(f.sent[2].authorization, "Bearer given");
        assert.equal(f.sent[2].url.origin, "http://other.example");
      },
    );
  });

  test("the default server, and no token for a server without a session", async () => {
    await withEnvironment(
      { XDG_CONFIG_HOME: tempDir(), SLIPWAY_URL: undefined, SLIPWAY_TOKEN: undefined },
      async () => {
        const f = whoami();
        const slipway = new Slipway({ fetch: f.fetch });
        assert.equal(slipway.server, "http://127.0.0.1:7878");
        await slipway.whoami();
        assert.equal(f.sent[0].authorization, null);
        assert.throws(
          () => Slipway.fromEnvironment({ fetch: f.fetch }),
          (e) => e instanceof SlipwayError && e.code === "not_signed_in",
        );
        assert.throws(
          () => new Slipway({ server: "s.example" }),
          (e) => e instanceof SlipwayError && e.code === "invalid_request",
        );
      },
    );
  });

  test("a group-readable file is refused before anything is sent", async () => {
    const config = tempDir();
    const file = path.join(config, "slipway", "credentials.json");
    saveSession("http://s.example", { token: "saved", login: "alice", expires_at: LATER }, file);
    fs.chmodSync(file, 0o640);
    await withEnvironment(
      { XDG_CONFIG_HOME: config, SLIPWAY_URL: "http://s.example", SLIPWAY_TOKEN: undefined },
      async () => {
        const f = whoami();
        const message = `${file} is open to other users (mode 0640): run chmod 600 ${file}`;
        await assert.rejects(new Slipway({ fetch: f.fetch }).whoami(), { name: "CredentialsError", message });
        assert.throws(() => Slipway.fromEnvironment({ fetch: f.fetch }), { message });
        assert.equal(f.sent.length, 0);
      },
    );
  });
});
