"""ConnectionBinding.app_key held a connector key without the slot, while Step.app_key meant the catalog key with
it: the binding's field is now `connector_key`, as on steps and connections. The unique constraint is the same
(one binding per recipe, connector and slot), rebuilt on the renamed column."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('recipes', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='connectionbinding',
            name='binding_one_per_app_slot',
        ),
        migrations.RenameField(
            model_name='connectionbinding',
            old_name='app_key',
            new_name='connector_key',
        ),
        migrations.AddConstraint(
            model_name='connectionbinding',
            constraint=models.UniqueConstraint(fields=('recipe', 'connector_key', 'slot'),
                                               name='binding_one_per_app_slot'),
        ),
    ]
