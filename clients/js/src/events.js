// Server-sent events: the messages of a `text/event-stream` body.

/**
 * One message of an event stream.
 * @typedef {{id?: string, event?: string, data: string}} Message
 */

/**
 * The messages of a `text/event-stream` body, as they arrive. Comments
 * (keep-alives) and messages whose data is empty are skipped.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<Message>}
 */
export async function* messages(body) {
  const decoder = new TextDecoder();
  let buffer = "";
  /** @type {string[]} */
  let data = [];
  /** @type {string | undefined} */
  let id;
  /** @type {string | undefined} */
  let event;
  for await (const chunk of /** @type {AsyncIterable<Uint8Array>} */ (
    /** @type {unknown} */ (body)
  )) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone `\r` at the end may be the first half of `\r\n`: wait for more.
      if (buffer[end] === "\r" && end === buffer.length - 1) {
        break;
      }
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        const joined = data.join("\n");
        if (joined !== "") {
          yield { id, event, data: joined };
        }
        data = [];
        event = undefined;
        continue;
      }
      if (line.startsWith(":")) {
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) {
        value = value.slice(1);
      }
      if (field === "data") {
        data.push(value);
      } else if (field === "id") {
        id = value;
      } else if (field === "event") {
        event = value;
      }
    }
  }
}
