// A headless Element-stack member (matrix-js-sdk + matrix-sdk-crypto-wasm) for organizer-bot's tests.
//
//   node element_client.mjs --hs URL --user @me:hs --password PW --bot @bot:hs --message TEXT
//        [--room ROOM_ID] [--mode only-signed|all] [--timeout SECONDS] [--replies N]
//
// Logs in, bootstraps its own cross-signing (password UIA), sets the device isolation mode
// ("only-signed" = Element's "exclude insecure devices", MSC4153), creates an encrypted room (or joins
// --room), invites the bot, waits for it to join, sends TEXT, and prints JSON lines on stdout:
//   {"event":"ready"|"room"|"joined"|"sent"|"reply"|"undecryptable"|"timeout"|"error", ...}
// It exits 0 after --replies decrypted replies from the bot, 2 on timeout, 1 on error.

// Node 20 lacks Promise.withResolvers, which the SDK uses.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// stdout carries our JSON lines only: the SDK's own console output goes to stderr.
for (const level of ["log", "info", "debug", "warn", "trace"]) console[level] = (...a) => console.error(...a);

const sdk = await import("matrix-js-sdk");
const { OnlySignedDevicesIsolationMode, AllDevicesIsolationMode } = await import("matrix-js-sdk/lib/crypto-api/index.js");

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function parseArgs(argv) {
  const args = { mode: "only-signed", timeout: "30", replies: "1" };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ["hs", "user", "password", "bot", "message"]) {
    if (!args[need]) throw new Error(`--${need} is required`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const quiet = { log() {}, info() {}, debug() {}, trace() {}, warn() {}, error: (...a) => console.error(...a), getChild() { return quiet; } };

async function main() {
  const anon = sdk.createClient({ baseUrl: args.hs, logger: quiet });
  const login = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: args.user },
    password: args.password,
    initial_device_display_name: "element-stack test client",
  });
  const client = sdk.createClient({
    baseUrl: args.hs, userId: login.user_id, deviceId: login.device_id, accessToken: login.access_token, logger: quiet,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const crypto = client.getCrypto();
  await crypto.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      try {
        await makeRequest(null); // MSC3967: first upload needs no auth on Synapse
      } catch (err) {
        const session = err?.data?.session;
        if (err?.httpStatus !== 401 || !session) throw err;
        await makeRequest({
          type: "m.login.password", session, password: args.password,
          identifier: { type: "m.id.user", user: login.user_id },
        });
      }
    },
  });
  crypto.setDeviceIsolationMode(
    args.mode === "all" ? new AllDevicesIsolationMode(false) : new OnlySignedDevicesIsolationMode(),
  );

  const wanted = Number(args.replies);
  let replies = 0;
  let roomId = args.room ?? null;
  const seen = new Set();
  const finish = (code) => {
    client.stopClient();
    process.exit(code);
  };

  const onEvent = (event) => {
    if (event.getRoomId() !== roomId || event.getSender() !== args.bot || seen.has(event.getId())) return;
    if (event.isBeingDecrypted() || event.shouldAttemptDecryption()) return;
    if (event.isDecryptionFailure()) {
      print({ event: "undecryptable", sender: event.getSender(), reason: event.decryptionFailureReason });
      return;
    }
    if (event.getType() !== "m.room.message") return;
    seen.add(event.getId());
    const content = event.getContent();
    print({ event: "reply", sender: event.getSender(), body: content.body, msgtype: content.msgtype,
            encrypted: event.isEncrypted() });
    replies += 1;
    if (replies >= wanted) finish(0);
  };
  client.on(sdk.MatrixEventEvent.Decrypted, onEvent);
  client.on(sdk.RoomEvent.Timeline, (event) => onEvent(event));

  const prepared = new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => { if (state === "PREPARED") resolve(); });
  });
  await client.startClient({ initialSyncLimit: 10 });
  await prepared;
  print({ event: "ready", user_id: login.user_id, device_id: login.device_id, mode: args.mode });

  if (roomId) {
    await client.joinRoom(roomId);
    await client.invite(roomId, args.bot).catch(() => {});
  } else {
    const created = await client.createRoom({
      invite: [args.bot],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    roomId = created.room_id;
  }
  print({ event: "room", room_id: roomId });

  await new Promise((resolve) => {
    const joined = () => client.getRoom(roomId)?.getMember(args.bot)?.membership === "join";
    if (joined()) return resolve();
    const check = () => { if (joined()) { client.off(sdk.RoomStateEvent.Members, check); resolve(); } };
    client.on(sdk.RoomStateEvent.Members, check);
  });
  print({ event: "joined", bot: args.bot });

  const sent = await client.sendMessage(roomId, { msgtype: "m.text", body: args.message });
  print({ event: "sent", event_id: sent.event_id, room_id: roomId });
}

const timer = setTimeout(() => {
  print({ event: "timeout", seconds: Number(args.timeout) });
  process.exit(2);
}, Number(args.timeout) * 1000);

main().catch((err) => {
  print({ event: "error", message: String(err?.message ?? err) });
  process.exit(1);
});
