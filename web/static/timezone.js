// Pick the reader's time zone from the browser; the select stays as the fallback.
(function () {
  var select = document.querySelector('select[data-detect="timezone"]');
  if (!select || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
})();
