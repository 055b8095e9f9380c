// The portal's only script: the Available/Selected lists and "select every code on the page".
// Every page works from the keyboard; the script only moves options and ticks boxes.
"use strict";

function sortOptions(select) {
  const options = Array.from(select.options);
  options.sort((a, b) => a.text.localeCompare(b.text));
  options.forEach((option) => select.appendChild(option));
}

function pickers() {
  return Array.from(document.querySelectorAll("fieldset.picker"));
}

function move(picker, how) {
  const available = picker.querySelector("select.available");
  const selected = picker.querySelector("select.selected");
  const from = how === "add" || how === "all" ? available : selected;
  const to = from === available ? selected : available;
  const moving = Array.from(from.options).filter((o) => how === "all" || how === "none" || o.selected);
  moving.forEach((option) => {
    option.selected = false;
    to.appendChild(option);
    // A user is on one list only: taken for this table, they leave the other's Available list;
    // given back, they return to it.
    pickers().forEach((other) => {
      if (other === picker) return;
      const list = other.querySelector("select.available");
      const twin = Array.from(list.options).find((o) => o.value === option.value);
      if (to === selected && twin) twin.remove();
      const elsewhere = other.querySelector("select.selected");
      const taken = Array.from(elsewhere.options).some((o) => o.value === option.value);
      if (to === available && !twin && !taken) {
        list.appendChild(new Option(option.text, option.value));
        sortOptions(list);
      }
    });
  });
  sortOptions(to);
  const status = document.getElementById("picker-status");
  if (status) {
    status.textContent = moving.length + " user(s) moved to " + picker.querySelector("legend").textContent
      + (to === selected ? " (Selected)" : " (Available)");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  pickers().forEach((picker) => {
    picker.querySelectorAll("button[data-move]").forEach((button) => {
      button.addEventListener("click", () => move(picker, button.dataset.move));
    });
  });
  const admin = document.getElementById("admin-form");
  if (admin) {
    const status = document.createElement("p");
    status.id = "picker-status";
    status.className = "help";
    status.setAttribute("role", "status");
    admin.appendChild(status);
    admin.addEventListener("submit", () => {
      admin.querySelectorAll("select.selected option").forEach((o) => { o.selected = true; });
      const marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = "lists";
      marker.value = "yes";
      admin.appendChild(marker);
    });
  }
  document.querySelectorAll("input.pick-all").forEach((all) => {
    all.addEventListener("change", () => {
      document.querySelectorAll("input." + all.dataset.target).forEach((box) => {
        box.checked = all.checked;
      });
    });
  });
});
