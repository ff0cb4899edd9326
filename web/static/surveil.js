// surveil pages work without script; this only adds conveniences.
"use strict";
// <select data-navigate="param">: choosing an option reloads the page with ?param=value.
for (const select of document.querySelectorAll("select[data-navigate]")) {
  select.addEventListener("change", () => {
    const params = new URLSearchParams({ [select.dataset.navigate]: select.value });
    location.search = "?" + params.toString();
  });
}
