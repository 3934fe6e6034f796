// Recipe editor, a progressive enhancement of forms that work without it (no build step, no framework):
// - a step's text inputs show their data pills as labelled chips ("Trigger › Name"), while the form still submits
//   the text `{{trigger.name}}` in the original (now hidden) input;
// - a data pill button inserts its chip at the cursor of the input of its step that was focused last;
// - "Keep the step" and the side pane's "Close" dismiss in place when htmx put them there.
(() => {
  "use strict";

  const PILL = /\{\{\s*(trigger|step[1-9][0-9]{0,3})\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}/g;
  const lastInput = new WeakMap(); // form -> the chip box (or plain input) focused last
  let labels = {};

  function readLabels() {
    const data = document.getElementById("pill-labels");
    try {
      labels = data ? JSON.parse(data.textContent) : {};
    } catch {
      labels = {};
    }
  }

  // "Trigger › Name" for `trigger.name`; a path into an object output keeps its rest: "Trigger › User › email".
  function chipLabel(ref, path) {
    if (labels[`${ref}.${path}`]) return labels[`${ref}.${path}`];
    const [head, ...rest] = path.split(".");
    const known = labels[`${ref}.${head}`];
    const where = ref === "trigger" ? "Trigger" : `Step ${ref.slice(4)}`;
    return [known || `${where} › ${head}`, ...rest].join(" › ");
  }

  function chip(text) {
    PILL.lastIndex = 0;
    const match = PILL.exec(text);
    const element = document.createElement("span");
    element.className = "chip";
    element.contentEditable = "false";
    element.dataset.pill = text;
    element.textContent = match ? chipLabel(match[1], match[2]) : text;
    if (match && !(`${match[1]}.${match[2]}` in labels) && !(`${match[1]}.${match[2].split(".")[0]}` in labels)) {
      element.classList.add("unknown");
      element.title = `${text}: no earlier step provides it`;
    }
    return element;
  }

  function fill(box, value) {
    box.replaceChildren();
    let at = 0;
    for (const match of value.matchAll(PILL)) {
      if (match.index > at) box.append(document.createTextNode(value.slice(at, match.index)));
      box.append(chip(match[0]));
      at = match.index + match[0].length;
    }
    if (at < value.length) box.append(document.createTextNode(value.slice(at)));
  }

  // The text the box stands for: chips give back their pill, line breaks (Chromium's <br> and <div>) a newline.
  function text(box) {
    let out = "";
    const walk = (node, first) => {
      if (node.nodeType === Node.TEXT_NODE) {
        out += node.textContent;
      } else if (node.dataset && node.dataset.pill) {
        out += node.dataset.pill;
      } else if (node.nodeName === "BR") {
        out += "\n";
      } else {
        if ((node.nodeName === "DIV" || node.nodeName === "P") && !first) out += "\n";
        node.childNodes.forEach((child, index) => walk(child, index === 0));
      }
    };
    box.childNodes.forEach((child, index) => walk(child, index === 0));
    return out.replace(/\u00a0/g, " ");
  }

  function enhance(input) {
    if (input.dataset.chips) return;
    const label = document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
    if (!label) return;
    input.dataset.chips = "on";
    const multiline = input.tagName === "TEXTAREA";
    const readOnly = input.matches(":disabled") || input.readOnly;
    const box = document.createElement("div");
    box.className = `chip-input${multiline ? " multiline" : ""}${input.classList.contains("code") ? " code" : ""}`;
    box.setAttribute("role", "textbox");
    if (multiline) box.setAttribute("aria-multiline", "true");
    label.id = label.id || `${input.id}-label`;
    box.setAttribute("aria-labelledby", label.id);
    const help = input.parentElement.querySelector(".help");
    if (help) {
      help.id = help.id || `${input.id}-help`;
      box.setAttribute("aria-describedby", help.id);
    }
    if (readOnly) {
      box.setAttribute("aria-readonly", "true");
      box.classList.add("read-only");
    } else {
      box.contentEditable = "true";
      box.tabIndex = 0;
    }
    // The label now names the box; the hidden input keeps the name and the value the form submits.
    label.removeAttribute("for");
    label.addEventListener("click", () => box.focus());
    fill(box, input.value);
    input.hidden = true;
    input.after(box);
    box.chipSource = input;
    box.addEventListener("input", () => {
      input.value = text(box);
    });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !multiline) {
        event.preventDefault(); // one line, as the input was: Enter saves the step
        input.form.requestSubmit();
      }
    });
    box.addEventListener("paste", (event) => {
      event.preventDefault(); // text only: pasted markup would not be what the form submits
      const pasted = event.clipboardData.getData("text/plain");
      document.execCommand("insertText", false, multiline ? pasted : pasted.replace(/\r?\n/g, " "));
    });
  }

  function enhanceAll(root) {
    root.querySelectorAll("form.step-inputs").forEach((form) => {
      form.querySelectorAll("input[type=text]:not([name=new_field_name]), textarea").forEach(enhance);
    });
  }

  // Where the cursor was in each box, since pressing a pill button moves the focus to the button.
  const ranges = new WeakMap();
  document.addEventListener("selectionchange", () => {
    const selection = document.getSelection();
    if (!selection.rangeCount) return;
    const range = selection.getRangeAt(0);
    const node = range.startContainer;
    const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    const box = element && element.closest && element.closest(".chip-input");
    if (box) ranges.set(box, range.cloneRange());
  });

  document.addEventListener("focusin", (event) => {
    const form = event.target.closest("form");
    if (form && event.target.matches(".chip-input, input[type=text], textarea")) lastInput.set(form, event.target);
  });

  function insertChip(box, pill) {
    box.focus();
    const selection = document.getSelection();
    let range = ranges.get(box);
    if (!range || !box.contains(range.startContainer)) {
      range = document.createRange();
      range.selectNodeContents(box);
      range.collapse(false);
    }
    range.deleteContents();
    const element = chip(pill);
    range.insertNode(element);
    range.setStartAfter(element);
    range.collapse(true);
    selection.removeAllRanges();
    selection.addRange(range);
    box.chipSource.value = text(box);
  }

  function insertText(input, pill) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.value = input.value.slice(0, start) + pill + input.value.slice(end);
    input.focus();
    input.setSelectionRange(start + pill.length, start + pill.length);
  }

  document.addEventListener("click", (event) => {
    const dismiss = event.target.closest("[data-dismiss]");
    const target = dismiss && document.getElementById(dismiss.dataset.dismiss);
    if (target) {
      event.preventDefault();
      target.replaceChildren();
      return;
    }
    const pill = event.target.closest("button[data-pill]");
    if (!pill) return;
    event.preventDefault();
    const form = pill.closest("form");
    const last = lastInput.get(form);
    const input = last || form.querySelector(".chip-input, input[type=text]:not([hidden]), textarea:not([hidden])");
    if (!input || input.matches(":disabled") || input.getAttribute("aria-readonly") === "true") return;
    if (input.classList.contains("chip-input")) insertChip(input, pill.dataset.pill);
    else insertText(input, pill.dataset.pill);
  });

  document.addEventListener("DOMContentLoaded", () => {
    readLabels();
    enhanceAll(document);
  });
  // The side pane keeps the focus where the person works: on its first field once htmx puts it in place.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "side-pane") {
      const first = event.target.querySelector("input:not([type=hidden]), select, button");
      if (first) first.focus();
      event.target.scrollIntoView({ block: "nearest" });
    }
  });
})();
