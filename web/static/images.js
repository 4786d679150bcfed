// The storage panel's image library: every image (name, size, sha256, read-only, where it
// is attached), a blank one created, a file uploaded (streamed as the PUT body, with
// progress), the read-only flag, delete. The daemon's refusals are shown inline.

import { api, upload } from "./api.js";

const BLOCK = 512; // images are whole 512-byte blocks (kvmswitchd.storage.blockdev)
const NAME_MAX = 100; // web.storage IMAGE_NAME

/** 1536 → "1.5 KiB"; exact bytes are in the title where it matters. */
export function sizeText(bytes) {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (!(bytes >= 1024)) return `${bytes} bytes`;
  let value = bytes;
  let unit = "bytes";
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  const shown = Number.isInteger(value) || value >= 100 ? String(Math.round(value)) : value.toFixed(1);
  return `${shown} ${unit}`;
}

/** A file name made into an image name the daemon takes (letters, digits, . _ + -). */
export function imageName(fileName) {
  return String(fileName)
    .replace(/[^A-Za-z0-9._+-]+/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, NAME_MAX);
}

function attachedText(attached) {
  if (!attached) return "";
  const pinned = attached.pinned ? ", pinned" : "";
  return `attached to port ${attached.port} · ${attached.mode}${pinned}`;
}

export class ImageList {
  constructor(els, { allowed, ask, notify }) {
    this.els = els;
    this.allowed = allowed;
    this.ask = ask;
    this.notify = notify;
    this.storage = null;
    this.images = [];
    this.transfer = null; // the upload in progress: {promise, abort}
    this.busy = false;
    els.createForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.create();
    });
    els.uploadForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.upload();
    });
    els.uploadFile.addEventListener("change", () => {
      const file = els.uploadFile.files?.[0];
      if (file) els.uploadName.value = imageName(file.name);
    });
    els.cancel.addEventListener("click", () => this.transfer?.abort());
  }

  reset() {
    this.transfer?.abort();
    this.storage = null;
    this.images = [];
    this.els.list.replaceChildren();
    this.message("", "");
  }

  render(storage, images) {
    this.storage = storage;
    this.images = images;
    const els = this.els;
    const writable = this.allowed("storage");
    els.list.replaceChildren(...images.map((image) => this.row(image, writable)));
    els.empty.hidden = images.length > 0;
    for (const form of [els.createForm, els.uploadForm]) {
      for (const el of form.elements) {
        if (el !== els.cancel) el.disabled = !writable || this.busy; // cancel: always
      }
    }
    const cap = storage?.max_image_size;
    els.cap.textContent = cap ? `Images up to ${sizeText(cap)}.` : "";
  }

  row(image, writable) {
    const item = document.createElement("li");
    item.className = "image";
    item.dataset.image = image.name;
    if (image.attached) item.classList.add("attached");

    const main = document.createElement("div");
    main.className = "image-main";
    const name = document.createElement("span");
    name.className = "image-name";
    name.textContent = image.name;
    name.title = image.name;
    main.append(name);
    if (image.read_only) main.append(tag("read-only", "tag ro"));
    if (image.attached) main.append(tag(attachedText(image.attached), "tag on"));

    const meta = document.createElement("div");
    meta.className = "image-meta";
    const size = document.createElement("span");
    size.textContent = sizeText(image.size);
    size.title = `${image.size} bytes`;
    const sha = document.createElement("span");
    sha.className = "sha";
    if (image.sha256) {
      sha.textContent = `sha256 ${image.sha256.slice(0, 12)}…`;
      sha.title = `sha256 ${image.sha256}`;
    } else {
      sha.textContent = "sha256 —";
      sha.title = "No checksum: a blank image, or written since it was uploaded";
    }
    meta.append(size, sha);

    const actions = document.createElement("div");
    actions.className = "image-actions";
    const ro = document.createElement("label");
    ro.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = Boolean(image.read_only);
    box.disabled = !writable || this.busy;
    box.setAttribute("aria-label", `${image.name} is read-only`);
    box.addEventListener("change", () => this.setReadOnly(image.name, box.checked));
    ro.append(box, " read-only");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger small-button";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete ${image.name}`);
    del.disabled = !writable || this.busy;
    del.addEventListener("click", () => this.remove(image));
    actions.append(ro, del);

    item.append(main, meta, actions);
    return item;
  }

  message(error, done) {
    this.els.error.textContent = error;
    this.els.error.hidden = !error;
    this.els.done.textContent = done;
  }

  /** Run a library change: one at a time, its refusal inline. True when it worked. */
  async change(work) {
    if (this.busy) return false;
    this.busy = true;
    this.message("", "");
    this.render(this.storage, this.images);
    try {
      this.message("", await work());
      return true;
    } catch (err) {
      this.message(err.message, "");
      return false;
    } finally {
      this.busy = false;
      this.render(this.storage, this.images); // the live state brings the new list
    }
  }

  create() {
    const els = this.els;
    const name = els.createName.value.trim();
    const amount = Number(els.createSize.value);
    const size = Math.round(amount * Number(els.createUnit.value));
    if (!name) {
      this.message("Name the new image (letters, digits, . _ + -).", "");
      els.createName.focus();
      return;
    }
    if (!(size > 0) || size % BLOCK) {
      this.message(`The size must be a positive multiple of ${BLOCK} bytes (that is ${size || 0} bytes).`, "");
      els.createSize.focus();
      return;
    }
    this.change(async () => {
      const info = await api("POST", "/storage/images", { name, size });
      els.createName.value = "";
      return `Created blank image ${info?.name ?? name} (${sizeText(info?.size ?? size)}).`;
    });
  }

  upload() {
    const els = this.els;
    const file = els.uploadFile.files?.[0];
    if (!file) {
      this.message("Choose a file to upload first.", "");
      return;
    }
    const name = els.uploadName.value.trim() || imageName(file.name);
    const cap = this.storage?.max_image_size;
    if (cap && file.size > cap) { // the daemon would refuse it (413) without reading a byte
      this.message(
        `Too large: images are capped at ${cap} bytes (${sizeText(cap)}); ${file.name} is ${file.size} bytes.`,
        "",
      );
      return;
    }
    this.change(async () => {
      els.progress.value = 0;
      els.progress.max = file.size || 1;
      els.progressBox.hidden = false;
      els.progressText.textContent = `0 of ${sizeText(file.size)}`;
      this.transfer = upload(`/storage/images/${encodeURIComponent(name)}`, file, {
        onProgress: (sent, total) => {
          els.progress.max = total || 1;
          els.progress.value = sent;
          els.progressText.textContent = `${sizeText(sent)} of ${sizeText(total)}`;
        },
      });
      try {
        const info = await this.transfer.promise;
        els.uploadFile.value = "";
        els.uploadName.value = "";
        const sha = info?.sha256 ? `, sha256 ${info.sha256.slice(0, 12)}…` : "";
        return `Uploaded ${info?.name ?? name} (${sizeText(info?.size ?? file.size)}${sha}).`;
      } finally {
        this.transfer = null;
        els.progressBox.hidden = true;
      }
    });
  }

  setReadOnly(name, readOnly) {
    this.change(async () => {
      await api("PATCH", `/storage/images/${encodeURIComponent(name)}`, { read_only: readOnly });
      return `${name} is now ${readOnly ? "read-only" : "writable"}.`;
    });
  }

  async remove(image) {
    const where = image.attached ? ` It is ${attachedText(image.attached)}.` : "";
    const answer = await this.ask({
      title: `Delete ${image.name}?`,
      items: [`${sizeText(image.size)} of data, deleted for good.${where}`],
      ok: "Delete",
      okDanger: true,
    });
    if (answer !== "ok") return;
    this.change(async () => {
      try {
        await api("DELETE", `/storage/images/${encodeURIComponent(image.name)}`);
      } catch (err) {
        if (err.status === 409) err.message = `${err.message}: eject it first.`;
        throw err;
      }
      return `Deleted ${image.name}.`;
    });
  }
}

function tag(text, className) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}
