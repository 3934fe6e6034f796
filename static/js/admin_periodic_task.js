// Django admin, periodic task form (django-celery-beat's inline script, as a static file): under the crontab
// field, what the chosen schedule means in words.
"use strict";
{
  const $ = django.jQuery;
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const originalHelp = document.currentScript.dataset.crontabHelp;

  const updateCrontabHelp = (translation) => {
    $(".field-crontab .help").text(originalHelp).append("<br>", document.createTextNode(`Translation: ${translation}`));
  };

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(() => updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]));
}
